/*
 * xml.c - reading AWS's XML answers with libxml2, safely.
 *
 * DESIGN: AWS never sends a DOCTYPE, so a document with one is refused
 * outright; the parser runs with XML_PARSE_NONET and without
 * XML_PARSE_NOENT/DTDLOAD, so no entity is ever expanded and nothing is
 * fetched. Lookups go by local name, ignoring namespaces (IAM and STS use
 * different ones, errors sometimes none).
 */
#include "session_revoker/aws.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <libxml/parser.h>

#define MAX_XML (8u << 20)

enum sr_rc sr_xml_parse(const char *buf, size_t len, xmlDocPtr *doc, struct sr_err *err)
{
	*doc = NULL;
	if (len == 0)
		return sr_err_set(err, SR_EINVAL, "empty XML answer");
	if (len > MAX_XML)
		return sr_err_set(err, SR_EINVAL, "XML answer larger than %u bytes", MAX_XML);
	*doc = xmlReadMemory(buf, (int)len, NULL, NULL,
			     XML_PARSE_NONET | XML_PARSE_NOBLANKS | XML_PARSE_NOERROR |
				     XML_PARSE_NOWARNING | XML_PARSE_NOCDATA);
	if (*doc == NULL)
		return sr_err_set(err, SR_EINVAL, "answer is not well-formed XML");
	if ((*doc)->intSubset != NULL || (*doc)->extSubset != NULL ||
	    xmlDocGetRootElement(*doc) == NULL) {
		xmlFreeDoc(*doc);
		*doc = NULL;
		return sr_err_set(err, SR_EINVAL, "XML answer has a DOCTYPE or no root");
	}
	return SR_OK;
}

xmlNodePtr sr_xml_first(xmlNodePtr node)
{
	xmlNodePtr c;

	for (c = node ? node->children : NULL; c != NULL; c = c->next)
		if (c->type == XML_ELEMENT_NODE)
			return c;
	return NULL;
}

xmlNodePtr sr_xml_next(xmlNodePtr node)
{
	xmlNodePtr c;

	for (c = node ? node->next : NULL; c != NULL; c = c->next)
		if (c->type == XML_ELEMENT_NODE)
			return c;
	return NULL;
}

static xmlNodePtr child(xmlNodePtr node, const char *name, size_t len)
{
	xmlNodePtr c;

	for (c = sr_xml_first(node); c != NULL; c = sr_xml_next(c))
		if (strlen((const char *)c->name) == len &&
		    strncmp((const char *)c->name, name, len) == 0)
			return c;
	return NULL;
}

xmlNodePtr sr_xml_path(xmlNodePtr node, const char *path)
{
	const char *p = path;

	while (node != NULL && *p != '\0') {
		size_t n = strcspn(p, "/");
		node = child(node, p, n);
		p += n;
		if (*p == '/')
			p++;
	}
	return node;
}

/* The concatenated text of node's own text children. New string. */
static char *node_text(xmlNodePtr node)
{
	xmlChar *t = xmlNodeGetContent(node);
	char *out;

	if (t == NULL)
		return NULL;
	out = strdup((const char *)t);
	xmlFree(t);
	return out;
}

const char *sr_xml_text(xmlNodePtr node, const char *path, char *out, size_t cap)
{
	char *t;
	size_t n;

	out[0] = '\0';
	node = sr_xml_path(node, path);
	if (node == NULL || (t = node_text(node)) == NULL)
		return NULL;
	n = strlen(t);
	if (n >= cap) {
		free(t);
		return NULL;
	}
	memcpy(out, t, n + 1);
	free(t);
	return out;
}

char *sr_xml_strdup(xmlNodePtr node, const char *path)
{
	node = sr_xml_path(node, path);
	return node ? node_text(node) : NULL;
}

/* Where an error's Code and Message sit: AWS's Query APIs answer
 * <ErrorResponse><Error>; some IAM-compatible endpoints (and EC2's own
 * shape) wrap it as <ErrorResponse|Response><Errors><Error>; a bare <Error>
 * root is S3's. */
int sr_aws_error_read(xmlNodePtr root, char *code, size_t code_cap, char *message,
		      size_t message_cap)
{
	static const char *const shapes[] = {"Error", "Errors/Error", NULL};
	xmlNodePtr e = NULL;
	size_t i;

	code[0] = '\0';
	message[0] = '\0';
	if (root == NULL)
		return 0;
	if (strcmp((const char *)root->name, "Error") == 0)
		e = root;
	for (i = 0; e == NULL && shapes[i] != NULL; i++)
		e = sr_xml_path(root, shapes[i]);
	if (e == NULL || !sr_xml_text(e, "Code", code, code_cap) || code[0] == '\0')
		return 0;
	if (!sr_xml_text(e, "Message", message, message_cap)) {
		/* too long for the buffer: its beginning is still worth showing */
		char *m = sr_xml_strdup(e, "Message");
		if (m != NULL && message_cap > 0)
			snprintf(message, message_cap, "%s", m);
		free(m);
	}
	return 1;
}

char *sr_url_decode(const char *in)
{
	int len = 0;
	char *t, *out;

	/* libcurl's decoder; the handle argument is not needed for this. */
	t = curl_easy_unescape(NULL, in, 0, &len);
	if (t == NULL)
		return NULL;
	if ((size_t)len != strlen(t)) { /* an encoded NUL: not a policy */
		curl_free(t);
		return NULL;
	}
	out = strdup(t);
	curl_free(t);
	return out;
}
