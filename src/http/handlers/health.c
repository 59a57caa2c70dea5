/*
 * health.c - GET /healthz (the process answers) and GET /readyz (config
 * loaded and the store takes a write).
 */
#include "../http_int.h"

#include <stdlib.h>

enum MHD_Result sr_handle_healthz(struct sr_request *req)
{
	return sr_respond_json(req, MHD_HTTP_OK, json_pack("{s:s}", "status", "ok"), NULL);
}

static enum MHD_Result ready_answer(struct sr_request *req)
{
	struct sr_store_op *op = req->state;

	if (op->rc != SR_OK) {
		char quoted[300];
		sr_log(SR_LOG_WARN, "store.not_writable", "request_id=%s error=%s", req->id,
		       sr_log_quote(quoted, sizeof(quoted), op->err.msg));
		return sr_respond_error(req, MHD_HTTP_SERVICE_UNAVAILABLE, "not_ready",
					"the store does not take writes", NULL, NULL);
	}
	return sr_respond_json(req, MHD_HTTP_OK,
			       json_pack("{s:s, s:b, s:b}", "status", "ready", "config", 1,
					 "store", 1),
			       NULL);
}

enum MHD_Result sr_handle_readyz(struct sr_request *req)
{
	struct sr_store_op *op;

	if (req->app->cfg == NULL || req->app->store == NULL)
		return sr_respond_error(req, MHD_HTTP_SERVICE_UNAVAILABLE, "not_ready",
					"configuration or store not loaded", NULL, NULL);
	op = calloc(1, sizeof(*op));
	if (op == NULL)
		return MHD_NO;
	op->kind = SR_STORE_OP_PING;
	req->state = op;
	req->state_free = free;
	return sr_request_wait_store(req, op, ready_answer);
}
