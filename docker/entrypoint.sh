#!/bin/sh
# The image's entrypoint: a config file mounted at /etc/session-revoker/config.json
# is used when SR_CONFIG is not set (SR_CONFIG or --config still choose another).
# exec: session-revoker is PID 1 and gets the SIGTERM of `docker stop` itself.
if [ -z "${SR_CONFIG:-}" ] && [ -f /etc/session-revoker/config.json ]; then
	SR_CONFIG=/etc/session-revoker/config.json
	export SR_CONFIG
fi
exec /usr/local/bin/session-revoker "$@"
