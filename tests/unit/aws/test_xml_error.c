/*
 * test_xml_error.c - where an AWS error answer keeps its code and message:
 * AWS's own <ErrorResponse><Error>, the <Errors><Error> wrapping some
 * IAM-compatible endpoints use (and EC2's <Response>), a bare <Error>, and
 * answers that carry no code at all.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "session_revoker/aws.h"

struct ecase {
	const char *name;
	const char *xml;
	int found;
	const char *code;
	const char *message;
};

static const struct ecase cases[] = {
	{"AWS Query API shape",
	 "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error><Type>Sender</Type>"
	 "<Code>NoSuchEntity</Code><Message>The role with name X cannot be found.</Message></Error>"
	 "<RequestId>r-1</RequestId></ErrorResponse>",
	 1, "NoSuchEntity", "The role with name X cannot be found."},
	{"wrapped in Errors",
	 "<ErrorResponse><Errors><Error><Type>Sender</Type><Code>SignatureDoesNotMatch</Code>"
	 "<Message>The request signature we calculated does not match</Message></Error></Errors>"
	 "<RequestId>r-2</RequestId></ErrorResponse>",
	 1, "SignatureDoesNotMatch", "The request signature we calculated does not match"},
	{"EC2-style Response root",
	 "<?xml version=\"1.0\"?><Response><Errors><Error><Code>ExpiredToken</Code>"
	 "<Message>The security token included in the request is expired</Message></Error></Errors>"
	 "<RequestID>r-3</RequestID></Response>",
	 1, "ExpiredToken", "The security token included in the request is expired"},
	{"bare Error root",
	 "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>",
	 1, "AccessDenied", "Access Denied"},
	{"code without a message",
	 "<ErrorResponse><Error><Code>Throttling</Code></Error></ErrorResponse>",
	 1, "Throttling", ""},
	{"no code", "<ErrorResponse><Error><Message>only words</Message></Error></ErrorResponse>",
	 0, "", ""},
	{"empty code", "<ErrorResponse><Errors><Error><Code></Code></Error></Errors></ErrorResponse>",
	 0, "", ""},
	{"an answer that is no error", "<ListRolesResponse><ListRolesResult/></ListRolesResponse>",
	 0, "", ""},
	{"Errors nested too deep",
	 "<ErrorResponse><X><Errors><Error><Code>C</Code></Error></Errors></X></ErrorResponse>",
	 0, "", ""},
};

static void test_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct ecase *c = &cases[i];
		struct sr_err err = {0};
		xmlDocPtr doc = NULL;
		char code[80], msg[256];
		int found;

		if (sr_xml_parse(c->xml, strlen(c->xml), &doc, &err) != SR_OK)
			fail_msg("%s: does not parse: %s", c->name, err.msg);
		found = sr_aws_error_read(xmlDocGetRootElement(doc), code, sizeof(code), msg,
					  sizeof(msg));
		if (found != c->found || strcmp(code, c->code) != 0 || strcmp(msg, c->message) != 0)
			fail_msg("%s: got %d \"%s\" \"%s\", want %d \"%s\" \"%s\"", c->name, found,
				 code, msg, c->found, c->code, c->message);
		xmlFreeDoc(doc);
	}
}

/* A message longer than the buffer is cut, not dropped; a code too long is
 * no code. */
static void test_caps(void **state)
{
	char xml[1024], code[8], msg[16];
	xmlDocPtr doc = NULL;

	(void)state;
	snprintf(xml, sizeof(xml), "<ErrorResponse><Error><Code>Short</Code><Message>%s</Message>"
		 "</Error></ErrorResponse>", "0123456789abcdefghijklmnopqrstuvwxyz");
	assert_int_equal(sr_xml_parse(xml, strlen(xml), &doc, NULL), SR_OK);
	assert_int_equal(sr_aws_error_read(xmlDocGetRootElement(doc), code, sizeof(code), msg,
					   sizeof(msg)), 1);
	assert_string_equal(code, "Short");
	assert_string_equal(msg, "0123456789abcde");
	xmlFreeDoc(doc);
	snprintf(xml, sizeof(xml), "<ErrorResponse><Error><Code>MuchTooLongACode</Code>"
		 "</Error></ErrorResponse>");
	assert_int_equal(sr_xml_parse(xml, strlen(xml), &doc, NULL), SR_OK);
	assert_int_equal(sr_aws_error_read(xmlDocGetRootElement(doc), code, sizeof(code), msg,
					   sizeof(msg)), 0);
	assert_string_equal(code, "");
	xmlFreeDoc(doc);
	assert_int_equal(sr_aws_error_read(NULL, code, sizeof(code), msg, sizeof(msg)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_caps),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
