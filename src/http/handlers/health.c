/*
 * health.c - GET /healthz (the process answers) and GET /readyz (config
 * loaded, every trusted issuer's keys loaded, and the store takes writes).
 *
 * /readyz needs no authentication, so it must not cost a durable write per
 * call: it answers from what the store's writer last saw (sr_store_ready),
 * and at most once a second queues a check write and answers from that.
 */
#include "../http_int.h"

#include <stdlib.h>

enum MHD_Result sr_handle_healthz(struct sr_request *req)
{
	return sr_respond_json(req, MHD_HTTP_OK, json_pack("{s:s}", "status", "ok"), NULL);
}

static enum MHD_Result answer(struct sr_request *req, enum sr_rc rc, const struct sr_err *err,
			      bool log)
{
	if (rc != SR_OK) {
		char quoted[300];
		if (log) /* once per check, not once per call */
			sr_log(SR_LOG_WARN, "store.not_writable", "request_id=%s error=%s", req->id,
			       sr_log_quote(quoted, sizeof(quoted), err->msg));
		return sr_respond_error(req, MHD_HTTP_SERVICE_UNAVAILABLE, "not_ready",
					"the store does not take writes", NULL, NULL);
	}
	return sr_respond_json(req, MHD_HTTP_OK,
			       json_pack("{s:s, s:b, s:b}", "status", "ready", "config", 1,
					 "store", 1),
			       NULL);
}

static enum MHD_Result check_answer(struct sr_request *req)
{
	struct sr_store_op *op = req->state;

	return answer(req, op->rc, &op->err, true);
}

enum MHD_Result sr_handle_readyz(struct sr_request *req)
{
	struct sr_store_op *op;
	struct sr_err err = {0};
	enum sr_rc rc;
	int check = 0;

	if (req->app->cfg == NULL || req->app->store == NULL)
		return sr_respond_error(req, MHD_HTTP_SERVICE_UNAVAILABLE, "not_ready",
					"configuration or store not loaded", NULL, NULL);
	/* A jwks_url not fetched yet: no token of that issuer can verify. The
	 * fetching thread logs each failure; nothing is logged per call. */
	if (req->app->auth != NULL && sr_auth_ready(req->app->auth, &err) != SR_OK)
		return sr_respond_error(req, MHD_HTTP_SERVICE_UNAVAILABLE, "not_ready",
					err.msg, NULL, NULL);
	rc = sr_store_ready(req->app->store, &check, &err);
	if (!check)
		return answer(req, rc, &err, false);
	op = calloc(1, sizeof(*op));
	if (op == NULL)
		return MHD_NO;
	op->kind = SR_STORE_OP_PING;
	req->state = op;
	req->state_free = free;
	return sr_request_wait_store(req, op, check_answer);
}
