#!/bin/bash
# install-system-deps.sh -- Debian/Ubuntu packages for the mssante_client sandbox
# (Dovecot, Postfix, OpenLDAP slapd + ldap-utils) and the build deps of python-ldap.
# Idempotent and quiet; run as root. Nothing is configured system-wide and no daemon is
# started: the sandbox runs private instances from its own directory.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
if [ "$(id -u)" -ne 0 ]; then
  echo "install-system-deps.sh: run as root (sudo bash $0)" >&2
  exit 1
fi
# Keep the packages' maintainer scripts from starting system-wide daemons (ports 25/143/389...):
# a policy-rc.d answering 101 ("action forbidden"); an existing one is left alone.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod 755 /usr/sbin/policy-rc.d
fi
# No system-wide configuration: the sandbox renders its own.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
echo "slapd slapd/no_configuration boolean true" | debconf-set-selections
PACKAGES="dovecot-imapd dovecot-submissiond dovecot-lmtpd postfix slapd ldap-utils
  libldap2-dev libsasl2-dev openssl gcc python3-dev python3-venv"
missing=""
for p in $PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -z "$missing" ]; then
  echo "install-system-deps.sh: all packages already installed"
  exit 0
fi
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "install-system-deps.sh: installed$missing"
