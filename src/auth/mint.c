/*
 * mint.c - development keys and tokens, and base64url through OpenSSL.
 */
#include "auth_int.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

enum sr_rc sr_b64url_decode(const char *in, size_t len, unsigned char **out,
			    size_t *out_len, struct sr_err *err)
{
	char *std;
	unsigned char *buf;
	size_t i, padded = (len + 3) / 4 * 4;
	int n;

	*out = NULL;
	if (len % 4 == 1 || len > (1u << 24))
		return sr_err_set(err, SR_EINVAL, "bad base64url length");
	std = malloc(padded + 1);
	buf = malloc(padded / 4 * 3 + 1);
	if (std == NULL || buf == NULL) {
		free(std);
		free(buf);
		return sr_err_set(err, SR_ENOMEM, "out of memory");
	}
	for (i = 0; i < len; i++) {
		char c = in[i];
		if (c == '-')
			c = '+';
		else if (c == '_')
			c = '/';
		else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			   (c >= '0' && c <= '9'))) {
			free(std);
			free(buf);
			return sr_err_set(err, SR_EINVAL, "bad base64url character");
		}
		std[i] = c;
	}
	/* Canonical only: the bits past the last whole byte must be zero, so
	 * one byte string has exactly one spelling. */
	if (len % 4 != 0) {
		static const char alphabet[] =
			"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
		unsigned v = (unsigned)(strchr(alphabet, std[len - 1]) - alphabet);
		if ((len % 4 == 2 && (v & 0x0f) != 0) || (len % 4 == 3 && (v & 0x03) != 0)) {
			free(std);
			free(buf);
			return sr_err_set(err, SR_EINVAL, "non-canonical base64url");
		}
	}
	for (; i < padded; i++)
		std[i] = '=';
	std[padded] = '\0';
	n = padded ? EVP_DecodeBlock(buf, (const unsigned char *)std, (int)padded) : 0;
	free(std);
	if (n < 0) {
		free(buf);
		return sr_err_set(err, SR_EINVAL, "bad base64url");
	}
	/* EVP_DecodeBlock counts the bytes the padding stood for. */
	n -= (int)(padded - len) ;
	buf[n] = '\0';
	*out = buf;
	*out_len = (size_t)n;
	return SR_OK;
}

enum sr_rc sr_auth_devkey_ensure(const char *path, int *created, struct sr_err *err)
{
	enum sr_rc rc;
	EVP_PKEY *pkey;
	BIO *bio;
	char *data;
	long n;

	*created = 0;
	if (access(path, F_OK) == 0)
		return SR_OK;
	pkey = EVP_RSA_gen(2048);
	if (pkey == NULL)
		return sr_err_set(err, SR_EINTERNAL, "cannot generate an RSA key");
	bio = BIO_new(BIO_s_mem());
	if (bio == NULL ||
	    PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL) != 1) {
		BIO_free(bio);
		EVP_PKEY_free(pkey);
		return sr_err_set(err, SR_EINTERNAL, "cannot write the key");
	}
	n = BIO_get_mem_data(bio, &data);
	rc = sr_file_write(path, data, (size_t)n, 0600, err);
	OPENSSL_cleanse(data, (size_t)n);
	BIO_free(bio);
	EVP_PKEY_free(pkey);
	if (rc == SR_OK)
		*created = 1;
	return rc;
}

enum sr_rc sr_auth_mint(const char *key_file, const char *issuer,
			const char *audience, json_t *claims, int64_t ttl,
			int64_t now, char **token, struct sr_err *err)
{
	enum sr_rc rc;
	char *pem = NULL, *grants = NULL, jti[33];
	size_t pem_len = 0;
	json_t *all = NULL, *std = NULL;
	jwt_t *jwt = NULL;

	*token = NULL;
	rc = sr_file_read(key_file, 1 << 20, &pem, &pem_len, err);
	if (rc != SR_OK)
		return rc;
	if ((rc = sr_random_hex(jti, 16, err)) != SR_OK)
		goto out;
	all = claims ? json_deep_copy(claims) : json_object();
	std = json_pack("{s:s, s:s, s:I, s:I, s:s}", "iss", issuer, "aud", audience,
			"iat", (json_int_t)now, "exp", (json_int_t)(now + ttl), "jti", jti);
	if (all == NULL || std == NULL || json_object_update(all, std) != 0) {
		rc = sr_err_set(err, SR_ENOMEM, "out of memory");
		goto out;
	}
	grants = json_dumps(all, JSON_COMPACT);
	if (grants == NULL || jwt_new(&jwt) != 0 ||
	    jwt_add_grants_json(jwt, grants) != 0 ||
	    jwt_set_alg(jwt, JWT_ALG_RS256, (const unsigned char *)pem, (int)pem_len) != 0) {
		rc = sr_err_set(err, SR_EINTERNAL, "cannot build the token");
		goto out;
	}
	*token = jwt_encode_str(jwt);
	if (*token == NULL)
		rc = sr_err_set(err, SR_EINTERNAL, "cannot sign the token with %s", key_file);
out:
	jwt_free(jwt);
	free(grants);
	json_decref(all);
	json_decref(std);
	sr_secret_free(pem, pem_len);
	return rc;
}
