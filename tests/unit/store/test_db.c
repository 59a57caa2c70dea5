/*
 * test_db.c - the store's SQL layer (src/store/db.h) where the back ends
 * differ in ways the store's logic relies on.
 *
 * PostgreSQL only: a transaction in which a statement failed cannot commit;
 * its COMMIT is answered as a success whose command is ROLLBACK, and the
 * layer must call that a failure (the writer would otherwise answer 202 for
 * writes that are not there). ?n parameters become $n outside quoted text.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* before cmocka.h, whose fail() macro would rename the op */
#include "../../../src/store/db.h"

#include <cmocka.h>

#include "../testkit.h"

static char *url;

static int setup(void **state)
{
	(void)state;
	url = tk_store_url();
	return url ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	free(url);
	return 0;
}

static struct db *open_db(void)
{
	struct db *db = NULL;
	struct sr_err err = {0};

	assert_int_equal(db_open(url, NULL, false, &db, &err), SR_OK);
	assert_int_equal(db_migrate(db, &err), SR_OK);
	return db;
}

static void test_spoilt_commit_fails(void **state)
{
	static const char bad[] = "INSERT INTO service_meta (key, value) VALUES (?1, NULL)";
	static const char good[] = "INSERT INTO service_meta (key, value) VALUES (?1, 'v')";
	struct db *db = open_db();
	struct db_q *q;

	(void)state;
	assert_int_equal(db->ops->begin(db), 0);
	assert_non_null(q = db_prepare(db, good));
	db_bind_text(q, 1, "spoilt-1");
	assert_int_equal(db_step(q), DB_DONE);
	db_reset(q);
	assert_non_null(q = db_prepare(db, bad)); /* value is NOT NULL */
	db_bind_text(q, 1, "spoilt-2");
	assert_int_equal(db_step(q), DB_ERR);
	db_reset(q);
	assert_int_equal(db_exec(db, "COMMIT"), -1);
	assert_non_null(strstr(db_errmsg(db), "rolled the transaction back"));
	assert_false(db_passing(db));
	db_close(db);
	assert_int_equal(tk_store_int(url, "SELECT count(*) FROM service_meta"
				      " WHERE key LIKE 'spoilt-%'"), 0);
}

/* A '?' inside quoted text is text, not a parameter. */
static void test_question_mark_in_text(void **state)
{
	static const char sql[] = "SELECT '?1 and ?2', ?1";
	struct db *db = open_db();
	struct db_q *q;

	(void)state;
	assert_non_null(q = db_prepare(db, sql));
	db_bind_text(q, 1, "x");
	assert_int_equal(db_step(q), DB_ROW);
	assert_string_equal(db_text(q, 0), "?1 and ?2");
	assert_string_equal(db_text(q, 1), "x");
	db_reset(q);
	db_close(db);
}

int main(void)
{
	const struct CMUnitTest both[] = {
		cmocka_unit_test(test_question_mark_in_text),
	};
	const struct CMUnitTest pg_only[] = {
		cmocka_unit_test(test_spoilt_commit_fails),
	};
	int failed = cmocka_run_group_tests(both, setup, teardown);

	if (tk_store_pg())
		failed += cmocka_run_group_tests(pg_only, setup, teardown);
	return failed;
}
