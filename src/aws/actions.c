/*
 * actions.c - the one table of the AWS API actions session-revoker calls.
 *
 * DESIGN: sr_aws_call() takes an enum sr_aws_action, never a string, so this
 * table is every action the service can send. Each row names the IAM
 * permission the action needs and who must hold it. deploy/aws/ grants the
 * SR_AWS_GRANT_TARGET rows to the role the service assumes in each account and
 * the SR_AWS_GRANT_SERVICE rows to the service's own principal, and nothing
 * more; tests/integration/test_deploy_aws.py reads this table (keep one row per
 * line, in this form) and fails when the templates grant fewer or more.
 *
 * Resource types (AWS Service Authorization Reference, IAM): ListRoles has
 * none (it needs "*"); the role actions take a role ARN (Attach/Detach-
 * RolePolicy also the iam:PolicyARN condition key); the managed-policy
 * actions (CreatePolicy ... ListEntitiesForPolicy) take a policy ARN.
 * GetCallerIdentity needs no permission (the STS API Reference: "No
 * permissions are required to perform this operation"), and
 * AssumeRoleWithWebIdentity is sent unsigned: the trust policy of the
 * service's own role admits it, no permission policy does.
 */
#include "session_revoker/aws.h"

static const struct sr_aws_action_info actions[SR_AWS_N_ACTIONS] = {
	[SR_AWS_LIST_ROLES] = {SR_AWS_IAM, "ListRoles", "iam:ListRoles", SR_AWS_GRANT_TARGET},
	[SR_AWS_LIST_ROLE_TAGS] = {SR_AWS_IAM, "ListRoleTags", "iam:ListRoleTags", SR_AWS_GRANT_TARGET},
	[SR_AWS_LIST_ROLE_POLICIES] = {SR_AWS_IAM, "ListRolePolicies", "iam:ListRolePolicies", SR_AWS_GRANT_TARGET},
	[SR_AWS_GET_ROLE_POLICY] = {SR_AWS_IAM, "GetRolePolicy", "iam:GetRolePolicy", SR_AWS_GRANT_TARGET},
	[SR_AWS_PUT_ROLE_POLICY] = {SR_AWS_IAM, "PutRolePolicy", "iam:PutRolePolicy", SR_AWS_GRANT_TARGET},
	[SR_AWS_DELETE_ROLE_POLICY] = {SR_AWS_IAM, "DeleteRolePolicy", "iam:DeleteRolePolicy", SR_AWS_GRANT_TARGET},
	[SR_AWS_ASSUME_ROLE] = {SR_AWS_STS, "AssumeRole", "sts:AssumeRole", SR_AWS_GRANT_SERVICE},
	[SR_AWS_ASSUME_ROLE_WITH_WEB_IDENTITY] = {SR_AWS_STS, "AssumeRoleWithWebIdentity", "sts:AssumeRoleWithWebIdentity", SR_AWS_GRANT_NONE},
	[SR_AWS_GET_CALLER_IDENTITY] = {SR_AWS_STS, "GetCallerIdentity", "sts:GetCallerIdentity", SR_AWS_GRANT_NONE},
	[SR_AWS_CREATE_POLICY] = {SR_AWS_IAM, "CreatePolicy", "iam:CreatePolicy", SR_AWS_GRANT_TARGET},
	[SR_AWS_GET_POLICY] = {SR_AWS_IAM, "GetPolicy", "iam:GetPolicy", SR_AWS_GRANT_TARGET},
	[SR_AWS_GET_POLICY_VERSION] = {SR_AWS_IAM, "GetPolicyVersion", "iam:GetPolicyVersion", SR_AWS_GRANT_TARGET},
	[SR_AWS_CREATE_POLICY_VERSION] = {SR_AWS_IAM, "CreatePolicyVersion", "iam:CreatePolicyVersion", SR_AWS_GRANT_TARGET},
	[SR_AWS_LIST_POLICY_VERSIONS] = {SR_AWS_IAM, "ListPolicyVersions", "iam:ListPolicyVersions", SR_AWS_GRANT_TARGET},
	[SR_AWS_DELETE_POLICY_VERSION] = {SR_AWS_IAM, "DeletePolicyVersion", "iam:DeletePolicyVersion", SR_AWS_GRANT_TARGET},
	[SR_AWS_DELETE_POLICY] = {SR_AWS_IAM, "DeletePolicy", "iam:DeletePolicy", SR_AWS_GRANT_TARGET},
	[SR_AWS_ATTACH_ROLE_POLICY] = {SR_AWS_IAM, "AttachRolePolicy", "iam:AttachRolePolicy", SR_AWS_GRANT_TARGET},
	[SR_AWS_DETACH_ROLE_POLICY] = {SR_AWS_IAM, "DetachRolePolicy", "iam:DetachRolePolicy", SR_AWS_GRANT_TARGET},
	[SR_AWS_LIST_ATTACHED_ROLE_POLICIES] = {SR_AWS_IAM, "ListAttachedRolePolicies", "iam:ListAttachedRolePolicies", SR_AWS_GRANT_TARGET},
	[SR_AWS_LIST_ENTITIES_FOR_POLICY] = {SR_AWS_IAM, "ListEntitiesForPolicy", "iam:ListEntitiesForPolicy", SR_AWS_GRANT_TARGET},
};

const struct sr_aws_action_info *sr_aws_action_info(enum sr_aws_action a)
{
	if ((unsigned)a >= SR_AWS_N_ACTIONS || actions[a].name == NULL)
		return NULL;
	return &actions[a];
}
