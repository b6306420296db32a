#!/usr/bin/env bash
# Throwaway OpenLDAP (slapd) on loopback for tests, with a tiny directory and TLS.
#   eval "$(scripts/ldap-test-server.sh start)"
#     -> exports LDAPTEST_DIR, LDAP_URL (ldap://, StartTLS offered), LDAPS_URL (ldaps://),
#        LDAP_CA (PEM of the CA that signed the server's certificate), LDAP_BASE_DN,
#        LDAP_BIND_DN, LDAP_BIND_PW (the directory's admin, also the service account)
#   scripts/ldap-test-server.sh stop "$LDAPTEST_DIR"
# Ports: LDAPPORT / LDAPSPORT, else free ones. Needs Debian's slapd, ldap-utils and openssl
# (scripts/install-test-deps.sh installs them without the package's own directory or service).
# Works as root or as a normal user: every file lives under a temp dir.
#
# The directory (base dc=example,dc=test):
#   uid=alice  alicepw   in cn=vdc-admins
#   uid=bob    bobpw     in cn=web-devs
#   uid=carol  carolpw   in cn=vdc-admins, disabled (shadowExpire in 1970)
#   uid=dave   davepw    in no group
set -euo pipefail
cmd=${1:-start}
SLAPD=${SLAPD:-/usr/sbin/slapd}
[ -x "$SLAPD" ] || { echo "slapd not found: run scripts/install-test-deps.sh" >&2; exit 1; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

case "$cmd" in
start)
  port=${LDAPPORT:-$(free_port)}
  sport=${LDAPSPORT:-$(free_port)}
  base="dc=example,dc=test"
  dir=$(mktemp -d "${TMPDIR:-/tmp}/ldaptest.XXXXXX")
  mkdir -p "$dir/db"
  # A CA and a server certificate for 127.0.0.1 signed by it.
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 7 \
    -keyout "$dir/ca.key" -out "$dir/ca.pem" -subj "/CN=vdc test CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$dir/server.key" -out "$dir/server.csr" -subj "/CN=127.0.0.1" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' >"$dir/server.ext"
  openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
    -days 7 -extfile "$dir/server.ext" -out "$dir/server.pem" 2>/dev/null
  rootpw=$(/usr/sbin/slappasswd -s adminpw)
  cat >"$dir/slapd.conf" <<EOF
include  /etc/ldap/schema/core.schema
include  /etc/ldap/schema/cosine.schema
include  /etc/ldap/schema/inetorgperson.schema
include  /etc/ldap/schema/nis.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile  $dir/slapd.pid
argsfile $dir/slapd.args
TLSCACertificateFile $dir/ca.pem
TLSCertificateFile $dir/server.pem
TLSCertificateKeyFile $dir/server.key
database mdb
maxsize  67108864
suffix   "$base"
rootdn   "cn=admin,$base"
rootpw   $rootpw
directory $dir/db
index objectClass,uid,member eq
access to attrs=userPassword by anonymous auth by self write by * none
access to * by * read
EOF
  person() { # uid, full name, password, extra object class and attribute lines
    cat <<EOF
dn: uid=$1,ou=people,$base
objectClass: inetOrgPerson
$4
uid: $1
cn: $2
sn: ${2##* }
mail: $1@example.test
userPassword: $(/usr/sbin/slappasswd -s "$3")

EOF
  }
  {
    cat <<EOF
dn: $base
objectClass: dcObject
objectClass: organization
o: Example Test
dc: example

dn: ou=people,$base
objectClass: organizationalUnit
ou: people

dn: ou=groups,$base
objectClass: organizationalUnit
ou: groups

EOF
    person alice "Alice Admin" alicepw "objectClass: person"
    person bob "Bob Developer" bobpw "objectClass: person"
    person carol "Carol Gone" carolpw "objectClass: shadowAccount
shadowExpire: 1"
    person dave "Dave Nobody" davepw "objectClass: person"
    cat <<EOF
dn: cn=vdc-admins,ou=groups,$base
objectClass: groupOfNames
cn: vdc-admins
member: uid=alice,ou=people,$base
member: uid=carol,ou=people,$base

dn: cn=web-devs,ou=groups,$base
objectClass: groupOfNames
cn: web-devs
member: uid=bob,ou=people,$base
EOF
  } >"$dir/seed.ldif"
  # Load offline (fast, no network), then serve on loopback only: plain (with StartTLS) and LDAPS.
  /usr/sbin/slapadd -q -f "$dir/slapd.conf" -l "$dir/seed.ldif"
  "$SLAPD" -f "$dir/slapd.conf" -h "ldap://127.0.0.1:$port/ ldaps://127.0.0.1:$sport/" -s 0
  for _ in $(seq 50); do [ -s "$dir/slapd.pid" ] && break; sleep 0.1; done
  ok=0
  for _ in $(seq 50); do
    if ldapsearch -x -H "ldap://127.0.0.1:$port" -b "$base" -s base dn >/dev/null 2>&1; then ok=1; break; fi
    sleep 0.1
  done
  [ "$ok" = 1 ] || { echo "slapd did not answer on port $port" >&2; exit 1; }
  echo "export LDAPTEST_DIR=$dir"
  echo "export LDAP_URL=ldap://127.0.0.1:$port"
  echo "export LDAPS_URL=ldaps://127.0.0.1:$sport"
  echo "export LDAP_CA=$dir/ca.pem"
  echo "export LDAP_BASE_DN=$base"
  echo "export LDAP_BIND_DN=cn=admin,$base"
  echo "export LDAP_BIND_PW=adminpw"
  ;;
stop)
  dir=${2:?usage: $0 stop LDAPTEST_DIR}
  if [ -s "$dir/slapd.pid" ]; then
    pid=$(cat "$dir/slapd.pid"); kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -rf "$dir"
  ;;
*) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
