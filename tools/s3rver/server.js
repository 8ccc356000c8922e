'use strict';
// The S3-compatible server of FinSys's object-store tests (scripts/stack.sh
// fs_s3_start): s3rver (pinned in package.json), behind a front that checks
// every request's AWS Signature Version 4 with the one key pair it knows.
//
// Why a front: s3rver 3.7.1 checks V2 signatures only; of a V4 one it checks
// the access key id and nothing else ("Signature version 4 calculation is
// unimplemeneted", lib/middleware/authentication.js), and it serves requests
// with no signature at all. The front refuses both, as S3 does, so that the
// tests prove FinSys signs correctly (a wrong secret is a 403
// SignatureDoesNotMatch), and it checks x-amz-content-sha256 and Content-MD5
// against the body (400 XAmzContentSHA256Mismatch / BadDigest). It also
// throttles chosen keys (below), as S3 does under load.
//
// Usage: node server.js DIR PORT BUCKET ACCESS_KEY SECRET
// Listens on 127.0.0.1:PORT; s3rver itself on another loopback port that the
// front picks. Prints "ready" once both listen.
const crypto = require('crypto');
const http = require('http');
const S3rver = require('s3rver');

const [dir, port, bucket, accessKey, secret] = process.argv.slice(2);
if (!secret) {
  console.error('usage: node server.js DIR PORT BUCKET ACCESS_KEY SECRET');
  process.exit(2);
}
const BODY_MAX = 256 * 1024 * 1024; // larger than anything the tests put
// FS_S3_LATENCY_MS: a delay before each answer, as a real network's round
// trip to S3 would add (for measuring put_many's parallel PUTs); 0 default.
const LATENCY_MS = Number(process.env.FS_S3_LATENCY_MS || 0);
// Faults by key, for the retry tests: a key with a segment "slowdown-N"
// gets 503 SlowDown for its first N requests (per method), then is served;
// "always-503", 503 every time.
const faults = new Map();

const sha256 = b => crypto.createHash('sha256').update(b).digest('hex');
const hmac = (k, s) => crypto.createHmac('sha256', k).update(s).digest();

function s3Error(res, status, code, message) {
  const body =
    '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>' + code + '</Code><Message>' +
    message + '</Message></Error>';
  res.writeHead(status, { 'Content-Type': 'application/xml' });
  res.end(body);
}

// The canonical query string: pairs sorted by name then value, each already
// percent-encoded as sent (RFC 3986), a name with no "=" given one.
function canonicalQuery(q) {
  if (!q) return '';
  return q
    .split('&')
    .filter(p => p.length > 0)
    .map(p => (p.includes('=') ? p.split(/=(.*)/s).slice(0, 2) : [p, '']))
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
    .map(([k, v]) => k + '=' + v)
    .join('&');
}

// null when the request is signed with the key pair, else why not.
function checkSignature(req, body) {
  const auth = req.headers['authorization'];
  if (!auth) return 'no Authorization header';
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/.exec(auth);
  if (!m) return 'not an AWS4-HMAC-SHA256 Authorization header';
  const [, key, date, region, service, signedHeaders, signature] = m;
  if (key !== accessKey) return 'unknown access key ' + key;
  const amzDate = req.headers['x-amz-date'];
  if (!amzDate || amzDate.slice(0, 8) !== date) return 'x-amz-date missing or not the credential date';
  const skew = Math.abs(Date.parse(amzDate.replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/, '$1-$2-$3T$4:$5:$6Z')) - Date.now());
  if (!(skew < 15 * 60 * 1000)) return 'x-amz-date more than 15 minutes off';
  const names = signedHeaders.split(';');
  if (!names.includes('host')) return 'host is not signed';
  const canonicalHeaders = names
    .map(n => n + ':' + String(req.headers[n] ?? '').trim().replace(/ +/g, ' ') + '\n')
    .join('');
  const declared = req.headers['x-amz-content-sha256'];
  const payloadHash = declared || sha256(body);
  const [path, query] = req.url.split(/\?(.*)/s);
  const canonical = [req.method, path, canonicalQuery(query), canonicalHeaders, signedHeaders,
    payloadHash].join('\n');
  const scope = [date, region, service, 'aws4_request'].join('/');
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonical)].join('\n');
  let k = hmac('AWS4' + secret, date);
  k = hmac(k, region);
  k = hmac(k, service);
  k = hmac(k, 'aws4_request');
  const want = crypto.createHmac('sha256', k).update(toSign).digest('hex');
  if (want !== signature) return 'signature differs; canonical request was:\n' + canonical;
  return null;
}

async function main() {
  const s3 = new S3rver({
    address: '127.0.0.1',
    port: 0,
    directory: dir,
    silent: true,
    configureBuckets: [{ name: bucket }],
  });
  // s3rver's account registry: the pair the front checks, so that s3rver's
  // own access-key check passes too.
  require('s3rver/lib/models/account').DUMMY_ACCOUNT.createKeyPair(accessKey, secret);
  const inner = await s3.run();
  const front = http.createServer((req, res) => {
    const chunks = [];
    let size = 0;
    req.on('data', c => {
      size += c.length;
      if (size > BODY_MAX) {
        s3Error(res, 400, 'EntityTooLarge', 'larger than the test server takes');
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const why = checkSignature(req, body);
      if (why) {
        console.error('refused', req.method, req.url, ':', why);
        const code = /signature differs/.test(why) ? 'SignatureDoesNotMatch' : 'AccessDenied';
        return s3Error(res, 403, code, why.split('\n')[0]);
      }
      const path = req.url.split('?')[0];
      if (/\/always-503\//.test(path))
        return s3Error(res, 503, 'SlowDown', 'Please reduce your request rate.');
      const slow = /\/slowdown-(\d+)\//.exec(path);
      if (slow) {
        const seen = faults.get(req.method + path) || 0;
        faults.set(req.method + path, seen + 1);
        if (seen < Number(slow[1]))
          return s3Error(res, 503, 'SlowDown', 'Please reduce your request rate.');
      }
      const declared = req.headers['x-amz-content-sha256'];
      if (declared && declared !== 'UNSIGNED-PAYLOAD' && declared !== sha256(body))
        return s3Error(res, 400, 'XAmzContentSHA256Mismatch', 'body differs from x-amz-content-sha256');
      const md5 = req.headers['content-md5'];
      if (md5 && md5 !== crypto.createHash('md5').update(body).digest('base64'))
        return s3Error(res, 400, 'BadDigest', 'body differs from Content-MD5');
      const headers = { ...req.headers, 'content-length': String(body.length) };
      delete headers['transfer-encoding'];
      delete headers['expect'];
      const up = http.request(
        { host: '127.0.0.1', port: inner.port, method: req.method, path: req.url, headers },
        r => {
          res.writeHead(r.statusCode, r.headers);
          r.pipe(res);
        },
      );
      up.on('error', e => s3Error(res, 500, 'InternalError', String(e)));
      setTimeout(() => up.end(body), LATENCY_MS);
    });
  });
  front.listen(Number(port), '127.0.0.1', () => console.log('ready'));
}

main().catch(e => {
  console.error(e);
  process.exit(1);
});
