#!/usr/bin/env bash
# Smoke test of the object-store test servers: starts Swift (S3) and Azurite in
# a scratch directory, exercises what pgvault relies on with plain curl, stops
# both and checks that nothing is left running.  Exit status 0 = all good.
#
#   bash test/servers/smoke.sh                         # as root or any user
#   SMOKE_THROUGHPUT_MB=100 bash test/servers/smoke.sh # also time a big multipart PUT
#
# curl 7.88 (Debian 12) notes: --aws-sigv4 neither sorts the query string nor
# writes "name=" for an empty value, so queries below are written pre-sorted and
# as "?uploads=" / "?delete="; and --user splits at the first colon, so the
# access key test:tester goes through a netrc file.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pgvault-smoke.XXXXXX")
EMPTY_SHA256=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
MiB=1048576
checks=0

cleanup() {
  bash "$HERE/swift.sh" stop "$WORK/swift" >/dev/null 2>&1 || true
  bash "$HERE/azurite.sh" stop "$WORK/azurite" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

fail() {
  echo "smoke: FAIL: $*" >&2
  [ -f "$WORK/out" ] && { echo "---- last response body:" >&2; head -c 2000 "$WORK/out" >&2; echo >&2; }
  exit 1
}
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
ok() { checks=$((checks + 1)); echo "ok $checks - $*"; }
expect() {   # expect WANT GOT WHAT
  [ "$1" = "$2" ] || fail "$3: expected $1, got $2"
  ok "$3"
}
slice() { dd if="$1" iflag=skip_bytes,count_bytes skip="$2" count="$3" status=none; }   # FILE OFFSET LENGTH
xml_values() { grep -o "<$1>[^<]*</$1>" "$WORK/out" | sed "s#</*$1>##g"; }
header() { tr -d '\r' <"$WORK/hdr" | sed -n "s/^$1: //Ip" | tail -n 1; }
urlencode() { perl -e '($_ = $ARGV[0]) =~ s/([^A-Za-z0-9_.~-])/sprintf("%%%02X", ord $1)/ge; print' "$1"; }

# ---------------------------------------------------------------- S3 (Swift)
# s3 METHOD PATH[?sorted-query] [BODY-FILE] [curl args...]: response body in
# $WORK/out, headers in $WORK/hdr, HTTP status on stdout.
s3() {
  local method=$1 path=$2 body=${3:-}
  shift $(($# < 3 ? $# : 3))
  local hash=$EMPTY_SHA256 args=()
  if [ -n "$body" ]; then
    hash=$(sha256sum "$body" | cut -d' ' -f1)
    args+=(-T "$body")
  fi
  hash=${S3_PAYLOAD_HASH:-$hash}   # a test may sign a wrong one
  if [ "$method" = HEAD ]; then args+=(-I); else args+=(-X "$method"); fi
  curl -sS -o "$WORK/out" -D "$WORK/hdr" -w '%{http_code}' \
    --netrc-file "${S3_NETRC:-$WORK/swift/netrc}" --aws-sigv4 "aws:amz:$S3_REGION:s3" \
    -H "x-amz-content-sha256: $hash" "${args[@]}" "$@" "$S3_ENDPOINT$path"
}

# multipart_put KEY PART-FILE...: a whole multipart upload; prints the ETag.
multipart_put() {
  local key=$1 id n=0 part etag
  shift
  [ "$(s3 POST "/smoke/$key?uploads=")" = 200 ] || fail "CreateMultipartUpload $key"
  id=$(xml_values UploadId)
  printf '<CompleteMultipartUpload>' >"$WORK/complete.xml"
  for part in "$@"; do
    n=$((n + 1))
    [ "$(s3 PUT "/smoke/$key?partNumber=$n&uploadId=$id" "$part")" = 200 ] || fail "UploadPart $n of $key"
    etag=$(header ETag)
    printf '<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>' "$n" "$etag" >>"$WORK/complete.xml"
  done
  printf '</CompleteMultipartUpload>' >>"$WORK/complete.xml"
  [ "$(s3 POST "/smoke/$key?uploadId=$id" "$WORK/complete.xml" -H 'Content-Type: application/xml')" = 200 ] ||
    fail "CompleteMultipartUpload $key"
  # Errors found while completing come with a 200 and an <Error> body (as on AWS).
  grep -q '<CompleteMultipartUploadResult' "$WORK/out" || fail "CompleteMultipartUpload $key: no result"
  xml_values ETag
}

t0=$(date +%s.%N)
bash "$HERE/swift.sh" start "$WORK/swift" >"$WORK/swift.env"
t1=$(date +%s.%N)
set -a; source "$WORK/swift.env"; set +a
ok "swift started in $(elapsed "$t0" "$t1") s at $S3_ENDPOINT"

expect 200 "$(s3 PUT /smoke)" "S3 CreateBucket"

# 12 MiB in three parts: 5 MiB, 5 MiB, 2 MiB (every part but the last >= 5 MiB).
head -c $((12 * MiB)) /dev/urandom >"$WORK/big"
split -b $((5 * MiB)) -d "$WORK/big" "$WORK/part."
etag=$(multipart_put dir/big "$WORK"/part.0*)
[[ $etag == *-3\" ]] || fail "multipart ETag should end in -3: $etag"
ok "S3 multipart upload (3 parts), ETag $etag"

expect 200 "$(s3 HEAD /smoke/dir/big)" "S3 HeadObject"
expect $((12 * MiB)) "$(header Content-Length)" "S3 HeadObject Content-Length"

expect 206 "$(s3 GET /smoke/dir/big '' -H 'Range: bytes=5242870-5242889')" "S3 ranged GetObject"
cmp -s "$WORK/out" <(slice "$WORK/big" 5242870 20) || fail "ranged GET returned wrong bytes"
ok "S3 ranged GetObject bytes match"

# pgvault pins ranged reads to the first answer's ETag with If-Match.
expect 206 "$(s3 GET /smoke/dir/big '' -H 'Range: bytes=0-9' -H "If-Match: $etag")" "S3 ranged GET, If-Match the multipart ETag"
expect 412 "$(s3 GET /smoke/dir/big '' -H 'Range: bytes=0-9' -H 'If-Match: "0123456789abcdef0123456789abcdef"')" "S3 ranged GET, If-Match another ETag: 412"

expect 200 "$(s3 GET /smoke/dir/big)" "S3 GetObject (whole multipart object)"
cmp -s "$WORK/big" "$WORK/out" || fail "GET of the multipart object returned wrong bytes"
ok "S3 GetObject bytes match"

# Too-small parts are refused when completing, as on AWS.
head -c 1000 /dev/urandom >"$WORK/small"
[ "$(s3 POST "/smoke/toosmall?uploads=")" = 200 ] || fail "CreateMultipartUpload toosmall"
id=$(xml_values UploadId)
s3 PUT "/smoke/toosmall?partNumber=1&uploadId=$id" "$WORK/small" >/dev/null
e1=$(header ETag)
s3 PUT "/smoke/toosmall?partNumber=2&uploadId=$id" "$WORK/small" >/dev/null
e2=$(header ETag)
printf '<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>%s</ETag></Part><Part><PartNumber>2</PartNumber><ETag>%s</ETag></Part></CompleteMultipartUpload>' \
  "$e1" "$e2" >"$WORK/complete.xml"
s3 POST "/smoke/toosmall?uploadId=$id" "$WORK/complete.xml" >/dev/null
grep -q '<Code>EntityTooSmall</Code>' "$WORK/out" || fail "1000-byte parts should give EntityTooSmall"
ok "S3 CompleteMultipartUpload with a 1000-byte first part: EntityTooSmall"

# In-progress uploads are listed, and AbortMultipartUpload removes them.
expect 200 "$(s3 GET "/smoke?uploads=")" "S3 ListMultipartUploads"
expect 1 "$(xml_values UploadId | wc -l)" "S3 one upload in progress"
expect 204 "$(s3 DELETE "/smoke/toosmall?uploadId=$id")" "S3 AbortMultipartUpload"
s3 GET "/smoke?uploads=" >/dev/null
expect 0 "$(xml_values UploadId | wc -l)" "S3 no upload in progress after abort"

# ListObjectsV2, two keys a page: follow the continuation tokens.
for i in 1 2 3 4 5; do
  echo "object $i" >"$WORK/obj"
  [ "$(s3 PUT "/smoke/list/o$i" "$WORK/obj")" = 200 ] || fail "PutObject list/o$i"
done
keys=() token='' pages=0
while :; do
  q="list-type=2&max-keys=2&prefix=list%2F"
  [ -n "$token" ] && q="continuation-token=$(urlencode "$token")&$q"
  [ "$(s3 GET "/smoke?$q")" = 200 ] || fail "ListObjectsV2"
  pages=$((pages + 1))
  mapfile -t -O "${#keys[@]}" keys < <(xml_values Key)
  grep -q '<IsTruncated>true</IsTruncated>' "$WORK/out" || break
  token=$(xml_values NextContinuationToken)
done
expect "list/o1 list/o2 list/o3 list/o4 list/o5" "${keys[*]}" "S3 ListObjectsV2 keys"
expect 3 "$pages" "S3 ListObjectsV2 pages of 2"

# DeleteObjects (Swift insists on Content-MD5).
{
  printf '<Delete><Quiet>false</Quiet>'
  for k in dir/big list/o1 list/o2 list/o3 list/o4 list/o5 no/such/key; do printf '<Object><Key>%s</Key></Object>' "$k"; done
  printf '</Delete>'
} >"$WORK/delete.xml"
md5=$(openssl dgst -md5 -binary "$WORK/delete.xml" | base64)
expect 200 "$(s3 POST "/smoke?delete=" "$WORK/delete.xml" -H "Content-MD5: $md5" -H 'Content-Type: application/xml')" "S3 DeleteObjects"
expect 7 "$(grep -o '<Deleted>' "$WORK/out" | wc -l)" "S3 DeleteObjects reports 7 deleted (missing keys count as deleted)"
s3 GET "/smoke?list-type=2" >/dev/null
expect 0 "$(xml_values KeyCount)" "S3 bucket empty after DeleteObjects"
expect 400 "$(s3 POST "/smoke?delete=" "$WORK/delete.xml" -H 'Content-Type: application/xml')" "S3 DeleteObjects without Content-MD5 refused"

# A request signed with the wrong secret is refused.
echo "machine 127.0.0.1 login $S3_ACCESS_KEY_ID password wrong-secret" >"$WORK/bad-netrc"
expect 403 "$(S3_NETRC=$WORK/bad-netrc s3 GET "/smoke?list-type=2")" "S3 wrong secret: 403"
expect SignatureDoesNotMatch "$(xml_values Code)" "S3 wrong secret: SignatureDoesNotMatch"
# ... and so is a body that does not match its signed SHA-256.
echo "tampered" >"$WORK/obj"
expect 400 "$(S3_PAYLOAD_HASH=$EMPTY_SHA256 s3 PUT /smoke/tampered "$WORK/obj")" "S3 payload SHA-256 mismatch: 400"

if [ "${SMOKE_THROUGHPUT_MB:-0}" -gt 0 ]; then
  head -c $((SMOKE_THROUGHPUT_MB * MiB)) /dev/urandom >"$WORK/big"
  rm -f "$WORK"/part.*
  split -b $((8 * MiB)) -d -a 4 "$WORK/big" "$WORK/part."
  t0=$(date +%s.%N)
  multipart_put throughput "$WORK"/part.* >/dev/null
  t1=$(date +%s.%N)
  ok "$(echo "$SMOKE_THROUGHPUT_MB $t0 $t1" | awk '{printf "S3 multipart PUT of %d MiB (8 MiB parts, curl, SHA-256 checked): %.1f s, %.0f MiB/s", $1, $3 - $2, $1 / ($3 - $2)}')"
  t0=$(date +%s.%N)
  expect 200 "$(s3 GET /smoke/throughput)" "S3 GET of the big object"
  t1=$(date +%s.%N)
  cmp -s "$WORK/big" "$WORK/out" || fail "big object read back differs"
  ok "$(echo "$SMOKE_THROUGHPUT_MB $t0 $t1" | awk '{printf "S3 GET of %d MiB: %.1f s, %.0f MiB/s", $1, $3 - $2, $1 / ($3 - $2)}')"
fi

# ------------------------------------------------------------ Azure (Azurite)
# az METHOD PATH [QUERY] [BODY-FILE] [x-ms-header:value...]: SharedKey-signed
# request to the path-style endpoint; body in $WORK/out, status on stdout.
# QUERY is "name=value&..." sorted by name, values not needing escapes.
az() {
  local method=$1 path=$2 query=${3:-} body=${4:-}
  shift $(($# < 4 ? $# : 4))
  local date len='' ctype='' resource headers sig hexkey args=() h
  date=$(LC_ALL=C date -u '+%a, %d %b %Y %H:%M:%S GMT')
  if [ -n "$body" ]; then
    len=$(stat -c %s "$body")
    [ "$len" = 0 ] && len=''   # API version 2015-02-21+: zero length signs as empty
    ctype=application/octet-stream
    args+=(--data-binary "@$body" -H "Content-Type: $ctype")
  fi
  local xms=("x-ms-date:$date" "x-ms-version:2020-10-02" "$@")
  headers=$(printf '%s\n' "${xms[@]}" | LC_ALL=C sort)
  # Emulator path-style: the canonical resource repeats the account name.
  resource="/$AZURE_ACCOUNT/$AZURE_ACCOUNT$path"
  [ -n "$query" ] && resource+=$(printf '\n%s' "${query//&/$'\n'}" | sed 's/=/:/')
  hexkey=$(printf '%s' "${AZURE_SIGN_KEY:-$AZURE_KEY}" | base64 -d | od -An -v -tx1 | tr -d ' \n')
  sig=$(printf '%s\n\n\n%s\n\n%s\n\n\n\n\n\n\n%s\n%s' "$method" "$len" "$ctype" "$headers" "$resource" |
    openssl dgst -sha256 -mac HMAC -macopt "hexkey:$hexkey" -binary | base64 -w0)
  for h in "${xms[@]}"; do args+=(-H "${h%%:*}: ${h#*:}"); done
  [ -z "$body" ] && [ "$method" = PUT ] && args+=(-H 'Content-Length: 0')
  curl -sS -o "$WORK/out" -D "$WORK/hdr" -w '%{http_code}' -X "$method" \
    -H "Authorization: SharedKey $AZURE_ACCOUNT:$sig" "${args[@]}" \
    "$AZURE_ENDPOINT$path${query:+?$query}"
}

t0=$(date +%s.%N)
bash "$HERE/azurite.sh" start "$WORK/azurite" >"$WORK/azurite.env"
t1=$(date +%s.%N)
set -a; source "$WORK/azurite.env"; set +a
ok "azurite started in $(elapsed "$t0" "$t1") s at $AZURE_ENDPOINT"

expect 201 "$(az PUT /smoke restype=container)" "Azure Create Container"
head -c $((3 * MiB)) /dev/urandom >"$WORK/blob"
expect 201 "$(az PUT /smoke/dir/blob '' "$WORK/blob" x-ms-blob-type:BlockBlob)" "Azure Put Blob (block blob)"
expect 200 "$(az GET /smoke/dir/blob)" "Azure Get Blob"
cmp -s "$WORK/blob" "$WORK/out" || fail "Azure blob read back differs"
ok "Azure Get Blob bytes match"
expect 206 "$(az GET /smoke/dir/blob '' '' x-ms-range:bytes=1048570-1048589)" "Azure ranged Get Blob"
cmp -s "$WORK/out" <(slice "$WORK/blob" 1048570 20) || fail "Azure ranged GET returned wrong bytes"
ok "Azure ranged Get Blob bytes match"

# Put Block + Put Block List: Azure's multipart upload.
split -b $((2 * MiB)) -d "$WORK/blob" "$WORK/block."
list='<?xml version="1.0" encoding="utf-8"?><BlockList>'
n=0
for b in "$WORK"/block.0*; do
  id=$(printf 'block-%06d' "$n" | base64 -w0)
  expect 201 "$(az PUT /smoke/dir/blocks "blockid=$(urlencode "$id")&comp=block" "$b")" "Azure Put Block $n"
  list+="<Latest>$id</Latest>"
  n=$((n + 1))
done
echo "$list</BlockList>" >"$WORK/blocklist.xml"
expect 201 "$(az PUT /smoke/dir/blocks comp=blocklist "$WORK/blocklist.xml")" "Azure Put Block List"
az GET /smoke/dir/blocks >/dev/null
cmp -s "$WORK/blob" "$WORK/out" || fail "Azure block-list blob read back differs"
ok "Azure block-list blob bytes match"

expect 200 "$(az GET /smoke 'comp=list&restype=container')" "Azure List Blobs"
expect "dir/blob dir/blocks" "$(xml_values Name | xargs)" "Azure List Blobs names"

expect 202 "$(az DELETE /smoke/dir/blob)" "Azure Delete Blob"
expect 403 "$(AZURE_SIGN_KEY=$(head -c 64 /dev/urandom | base64 -w0) az GET /smoke/dir/blocks)" "Azure wrong key: 403"
expect AuthorizationFailure "$(header x-ms-error-code)" "Azure wrong key: AuthorizationFailure"

# ------------------------------------------------------------------ stopping
bash "$HERE/swift.sh" stop "$WORK/swift"
bash "$HERE/azurite.sh" stop "$WORK/azurite"
bash "$HERE/swift.sh" stop "$WORK/swift"          # idempotent
bash "$HERE/azurite.sh" stop "$WORK/azurite"
left=()
for p in /proc/[0-9]*; do
  mapfile -d '' -t args 2>/dev/null <"$p/cmdline" || continue
  [[ " ${args[*]} " == *"$WORK/"* ]] && left+=("${p#/proc/}")
done
expect 0 "${#left[@]}" "no server process left (${left[*]:-none})"

echo "smoke: all $checks checks passed"
