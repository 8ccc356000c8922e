/*
 * limits.h: every limit FinSys enforces, in one place, each with its reason.
 * A limit is enforced with a clear error that names it, never by overflow.
 */
#ifndef FS_LIMITS_H
#define FS_LIMITS_H

/* A request body FinSys reads. Payment and account bodies are a few KB at most;
 * 1 MiB leaves room for metadata while bounding what a client can make us
 * buffer. Larger bodies get 413 request_too_large. */
#define FS_BODY_MAX_BYTES (1024 * 1024)

/* The transport's hard cap (evhttp_set_max_body_size): bodies above it are cut
 * off by libevent itself with a plain 413 before they are buffered. Between
 * FS_BODY_MAX_BYTES and this cap the client gets our JSON 413. */
#define FS_BODY_TRANSPORT_MAX_BYTES (8 * 1024 * 1024)

/* Request headers: an API key and an idempotency key fit easily. */
#define FS_HEADERS_MAX_BYTES (16 * 1024)

/* Metadata, as Stripe bounds it: enough for references, too small to be a
 * document store. The issue fixes 50 keys and 8 KB. */
#define FS_METADATA_KEYS_MAX 50
#define FS_METADATA_BYTES_MAX 8192
#define FS_METADATA_KEY_LEN_MAX 40
#define FS_METADATA_VALUE_LEN_MAX 500

/* Free text fields, in bytes of UTF-8. */
#define FS_DESCRIPTION_LEN_MAX 1000
#define FS_NAME_LEN_MAX 200

/* Object ids we accept in paths and bodies (ours are 29 bytes). */
#define FS_ID_LEN_MAX 64

/* Refunds of one payment. Each is a provider call, journal entries and a row
 * that GET /v1/payments/{id}/refunds pages through; 100 partial refunds cover
 * any real return (an order's lines one by one) while bounding what a client
 * can make of one payment (a refund of 1 unit at a time). Past it a refund
 * gets 409 payment_not_refundable. */
#define FS_REFUNDS_PER_PAYMENT_MAX 100

/* Idempotency-Key: 1..255 printable ASCII characters (IETF draft, Stripe). */
#define FS_IDEMPOTENCY_KEY_LEN_MAX 255

/* How long idempotency records are kept by default, and how many the purge
 * deletes per pass so that it never holds locks for long. */
#define FS_IDEMPOTENCY_TTL_HOURS_DEFAULT 24
#define FS_IDEMPOTENCY_PURGE_ROWS_MAX 10000
#define FS_IDEMPOTENCY_PURGE_INTERVAL_S 60 /* default; FINSYS_IDEMPOTENCY_PURGE_INTERVAL_S */

/* A list's query string: a few short parameters fit in far less. */
#define FS_QUERY_LEN_MAX 2048

/* List pages: 1..100 items, 10 by default. */
#define FS_PAGE_LIMIT_MIN 1
#define FS_PAGE_LIMIT_MAX 100
#define FS_PAGE_LIMIT_DEFAULT 10

/* Group commit: a batch closes at this many items (or after the wait). 512
 * items of a few hundred bytes make a parameter well under 1 MiB, and a
 * batch that large already amortises the commit's fsync to nothing. */
#define FS_BATCH_ITEMS_MAX 512
#define FS_BATCH_ITEMS_DEFAULT 256
#define FS_BATCH_WAIT_US_DEFAULT 200
#define FS_BATCH_WAIT_US_MAX 100000

/* Database connections per HTTP thread. A commit waits for its WAL flush;
 * with several groups in flight per thread, one gathers while the others
 * commit, and PostgreSQL flushes their WAL together. Four rather than two:
 * make bench's ingest kept only 1.5 of 2 cores busy, bound by the groups in
 * flight; with four, 3,723 payments/s against 3,404 (one pair of runs, p99
 * 33 against 34 ms). */
#define FS_STORE_CONNECTIONS_DEFAULT 4
#define FS_STORE_CONNECTIONS_MAX 16

/* Requests queued for one HTTP thread's store. Past it a request gets 503
 * overloaded at once instead of waiting without bound. */
#define FS_STORE_QUEUE_MAX 16384

/* A batch that hits a deadlock or serialization failure is retried this many
 * times; it never reaches the client as an error. */
#define FS_STORE_RETRIES_MAX 10

/* How long one group's statement may run (statement_timeout) before
 * PostgreSQL cancels it; it changed nothing then. Generous: a group of 512
 * takes tens of milliseconds. */
#define FS_STORE_STATEMENT_TIMEOUT_MS 10000

/* Past this without an answer the connection is given up and the group's
 * requests get 503 (its outcome is unknown): the statement timeout plus time
 * for the commit and the network. */
#define FS_STORE_GROUP_DEADLINE_MS 15000

/* Connecting (TCP, authentication, session settings) may take this long. */
#define FS_STORE_CONNECT_TIMEOUT_MS 5000

/* Unacknowledged data on a connection for this long means the database is
 * gone (TCP_USER_TIMEOUT). */
#define FS_STORE_TCP_USER_TIMEOUT_MS 10000

/* Reconnection back-off to PostgreSQL. */
#define FS_STORE_RECONNECT_MS_MIN 100
#define FS_STORE_RECONNECT_MS_MAX 5000

/* Payments a worker settles at once (claimed, at the provider, or being
 * finalized). Each holds a message unacknowledged, so this stays well below
 * the consumer's MaxAckPending. */
#define FS_WORKER_INFLIGHT_DEFAULT 512
#define FS_WORKER_INFLIGHT_MAX 4096

/* Connections from a worker to the provider: calls beyond them wait in
 * libevent's queue of each connection. */
#define FS_WORKER_PROVIDER_CONNECTIONS 64

/* Database connections of the worker's readers of the event log (the search
 * indexer, the receipt maker, the webhook notifier): a store of their own,
 * so that a backlog they work through (runs of up to 1,000 events, one after
 * another) never holds the connections that settlement claims and finishes
 * on. Three, one a reader: each reader's runs are serialised by its feed
 * cursor anyway, but on one connection the three queued behind each other's
 * statements and commits (each commit an fsync), and in make bench the
 * receipts and webhooks fell ever further behind settlement (50 s). */
#define FS_WORKER_READER_CONNECTIONS 3

/* How long one fetch waits for messages: short enough that a stopping worker
 * notices within it. */
#define FS_WORKER_FETCH_WAIT_MS 500

/* Rows of each kind (payments, refunds) one page of a sweep publishes again:
 * one short statement by index; a sweep takes page after page (see
 * FS_WORKER_SWEEP_PAGES_MAX at the end of this file). */
#define FS_WORKER_SWEEP_MAX 1000

/* A provider's answer we read: a charge is a few hundred bytes. */
#define FS_WORKER_PROVIDER_BODY_MAX_BYTES (64 * 1024)

/* Search (src/search, db/functions/search.sql). q is a few words or a
 * reference, not a document; 200 bytes bound the text-search and trigram work
 * one request can ask for. */
#define FS_SEARCH_Q_LEN_MAX 200

/* Events one indexer run takes from the feed: one transaction of a few
 * milliseconds per thousand payments, so the indexer never holds its rows or
 * the feed cursor for long; a full run is followed by another at once. */
#define FS_INDEX_RUN_EVENTS_MAX 1000

/* How often the indexer looks for new events when it has caught up
 * (FINSYS_INDEX_INTERVAL_MS): the idle part of the indexing lag. */
#define FS_INDEX_INTERVAL_MS_DEFAULT 100
#define FS_INDEX_INTERVAL_MS_MAX 60000

/* HTTP threads: one event loop each. */
#define FS_HTTP_THREADS_MAX 64

/* On SIGTERM the server stops accepting and answers what it holds for at
 * most this long before it exits. */
#define FS_HTTP_DRAIN_MS 5000

/* Idle keep-alive connections are closed after this long. */
#define FS_HTTP_TIMEOUT_S 60

/* GET /readyz answers within this long (src/health): a dependency that has
 * not answered by then is named as failing. A probe's caller (a load
 * balancer, Kubernetes) waits about a second before it gives up itself. */
#define FS_READY_TIMEOUT_MS 500

/* The queue (src/queue, NATS JetStream). The broker is not the source of
 * truth (PostgreSQL is), so every bound here may refuse or drop a message:
 * the pending payment row is the outbox and the sweeper publishes it again. */

/* Asynchronous publishes awaiting their acks, per connection. At 10,000
 * payments/s with acks back in about a millisecond a few dozen are out; 4,096
 * ride out a pause of the broker of about 0.4 s (about 1.5 MB of messages).
 * Past it a publish is refused at once. */
#define FS_QUEUE_PUBLISH_PENDING_MAX 4096

/* How long a publish may wait for a free slot when the above are all out:
 * the shortest the library allows (0 means its default, 200 ms), so that a
 * publish on an HTTP loop never stalls it. */
#define FS_QUEUE_PUBLISH_STALL_WAIT_MS 1

/* A published message whose ack has not come back after this long counts as
 * failed (the sweeper sends it again; the dedup window drops the copy if the
 * first one did land) and frees its slot. */
#define FS_QUEUE_PUBLISH_ACK_WAIT_MS 5000

/* A write to the broker's socket may block this long before the connection
 * is given up and reconnected. Loopback writes block only when megabytes are
 * unread, so this is a backstop that keeps callers' threads moving. */
#define FS_QUEUE_WRITE_DEADLINE_MS 10

/* JetStream API requests (creating streams, fetching, dead-letter publishes)
 * and the first connection. Workers and start-up only; never an HTTP loop. */
#define FS_QUEUE_REQUEST_TIMEOUT_MS 5000
#define FS_QUEUE_CONNECT_TIMEOUT_MS 2000

/* Reconnection: forever, every this often; the connection pings the broker
 * this often and gives up after two unanswered pings, so a hung broker is
 * noticed in about 10 s (a dead one at once, by the closed socket). */
#define FS_QUEUE_RECONNECT_WAIT_MS 250
#define FS_QUEUE_PING_INTERVAL_MS 5000

/* fs_queue_close waits this long for the acks of pending publishes. */
#define FS_QUEUE_CLOSE_WAIT_MS 2000

/* Messages with the same Nats-Msg-Id (the payment id) within this window
 * are stored once. The issue asks for at least 2 minutes; the sweeper's
 * timeout should be shorter, so that its re-publishes are dropped while the
 * first message is still queued. */
#define FS_QUEUE_DEDUP_WINDOW_S 120

/* Attempts to create or update the streams at start, 100 ms apart: processes
 * starting together can make each other's first attempt fail. */
#define FS_QUEUE_ENSURE_TRIES 10

/* A delivered message not acked within this long is delivered again. A
 * provider call takes seconds at most; a longer job sends in-progress acks. */
#define FS_QUEUE_ACK_WAIT_MS 30000

/* An in-progress ack is sent only once a third of the ack wait has passed
 * since it last started: the usual job (milliseconds) sends none, a slow one
 * still renews its wait well before it ends. */
#define FS_QUEUE_IN_PROGRESS_AFTER_MS (FS_QUEUE_ACK_WAIT_MS / 3)

/* Messages one fetch may return (the consumer's MaxRequestBatch too): a
 * worker's batch. 256 fetch-and-ack at about 115,000 messages/s here. */
#define FS_QUEUE_FETCH_MAX 256

/* Messages delivered and not yet acked across all workers (MaxAckPending).
 * Past it the broker silently stops delivering; 8,192 is more than 10,000
 * payments/s keep in flight at a provider latency of tens of milliseconds,
 * and bounds what a crashed worker leaves to redeliver after the ack wait. */
#define FS_QUEUE_ACK_PENDING_MAX 8192

/* Messages one stream holds. Payments are removed when acked, so this is a
 * backlog of a million (about 300 MB on disk); past it new messages are
 * refused (never old ones dropped) and wait in PostgreSQL for the sweeper. */
#define FS_QUEUE_STREAM_MSGS_MAX 1000000

/* One message: a payment's is about 150 bytes, a notification carries an
 * event of a few KB. */
#define FS_QUEUE_MSG_BYTES_MAX 65536

/* A request id carried in X-Request-Id (as the HTTP server accepts them),
 * and a dead letter's reason (longer ones are cut). */
#define FS_QUEUE_REQUEST_ID_LEN_MAX 128
#define FS_QUEUE_REASON_LEN_MAX 256

/* --- receipts and the object store (src/objects, src/receipt) --- */

/* An object's key: receipts/<tenant id>/<payment id>.json is under 100
 * bytes; the bound keeps a path under PATH_MAX with any sane root. */
#define FS_OBJECT_KEY_LEN_MAX 256

/* The largest object a get reads whole into memory. A receipt is about
 * 1 KB; anything near this is not a receipt, and is refused rather than
 * read. */
#define FS_OBJECT_BYTES_MAX (1024 * 1024)

/* Reads and writes queued on one loop's object I/O thread. Past it the
 * request is refused with 503: the disk is not keeping up. */
#define FS_OBJECTS_IO_QUEUE_MAX 1024

/* Puts an object I/O thread makes durable together (fs_objects_put_many):
 * each holds a file open until the batch's flush, so this bounds the file
 * descriptors a batch takes (with FS_RECEIPT_WRITERS threads, 256 at most,
 * well inside the usual limit of 1,024); a round of receipts is then one or
 * two flushes a writer. */
#define FS_OBJECTS_PUT_BATCH_MAX 128

/* Events of the receipts feed one prepare takes (the payment.created half
 * of them make none), and receipts one round writes: a round's cost is
 * mostly its flushes, whatever its size, so rounds are large. */
#define FS_RECEIPT_BATCH_MAX 500

/* Threads writing a round's receipts, each a share of the round made
 * durable together (fs_objects_put_many): two flushes a share. Written one
 * by one (two fsyncs each, about 7 ms here), receipts fell 30-50 s behind
 * settlement in make bench. */
#define FS_RECEIPT_WRITERS 2

/* Rounds of receipts writing or waiting for their mark at once: the next
 * round is prepared while the last one's writes wait for the disk, and its
 * writes join the writers' next batches. Bounds what the driver holds: this
 * many rounds of FS_RECEIPT_BATCH_MAX. */
#define FS_RECEIPT_ROUNDS_MAX 4

/* An unstored receipt is handed out again this long after it was last
 * handed out (its worker died or its write failed). */
#define FS_RECEIPT_RETRY_AFTER_S 10

/* The rendered HTML page of a receipt; the page is about 3 KB. */
#define FS_RECEIPT_HTML_BYTES_MAX 65536

/* Webhooks (src/notify, docs/webhooks.md). */

/* Live endpoints per tenant: each event is POSTed once per subscribed
 * endpoint, so this bounds the fan-out of one event. */
#define FS_WEBHOOK_ENDPOINTS_MAX 16

/* An endpoint's URL, in bytes: http://IP:PORT/path fits easily. */
#define FS_WEBHOOK_URL_LEN_MAX 2048

/* Event types in one endpoint's list: every type there is (13) and "*", with
 * room for the types to come. */
#define FS_WEBHOOK_EVENTS_MAX 24

/* Deliveries one worker has in flight (claimed or leased by the fan-out,
 * waiting for a connection, being POSTed, or being recorded). Each holds its
 * event (about 2 KB) and, when it came by message, that message
 * unacknowledged; a slow receiver holds a slot for up to
 * FINSYS_WEBHOOK_TIMEOUT_MS. */
#define FS_NOTIFY_INFLIGHT_MAX 256

/* Keep-alive connections one worker keeps to one receiver (IP and port):
 * its deliveries beyond that wait in line, within their timeout. Enough to
 * keep a receiver that answers in a millisecond busy at thousands of
 * deliveries a second, few enough that a burst does not flood it (a
 * receiver sees at most this many requests at once per worker). */
#define FS_NOTIFY_HOST_CONNS 8

/* A connection idle this long is closed (and a receiver left without any is
 * forgotten): below the usual servers' keep-alive timeouts (Node.js 5 s,
 * nginx 75 s), so that a receiver rarely closes one just as a delivery is
 * sent on it. */
#define FS_NOTIFY_CONN_IDLE_MS 2000

/* Attempts' results are recorded together (op webhook_finish, one statement
 * for all): at most this many, sent at most FS_NOTIFY_FINISH_WAIT_MS after
 * the first (the delay before a delivery reads "delivered"). */
#define FS_NOTIFY_FINISH_MAX 256
#define FS_NOTIFY_FINISH_WAIT_MS 5

/* The back-off doubles from FINSYS_WEBHOOK_BACKOFF_BASE_MS up to this: over
 * the default 24 hours an endpoint that stays down is tried about 30 times,
 * at most an hour apart. */
#define FS_NOTIFY_BACKOFF_MAX_MS (3600 * 1000)

/* The fan-out takes at most this many events a pass, and runs again at once
 * while it gets that many; FS_NOTIFY_FANOUT_BUSY_MS after a pass that got
 * some (a pass is a transaction: this batches them under load, and is the
 * latency it adds to a webhook then); otherwise every
 * FS_NOTIFY_FANOUT_INTERVAL_MS (the latency it adds after a quiet spell). */
#define FS_NOTIFY_FANOUT_MAX 500

/* A fan-out waits (FS_NOTIFY_FANOUT_BUSY_MS) until this many delivery slots
 * are free: it takes no more events than it can lease deliveries for, and a
 * fan-out is a transaction of its own, too dear for a handful. */
#define FS_NOTIFY_FANOUT_ROOM_MIN 32
#define FS_NOTIFY_FANOUT_BUSY_MS 20
#define FS_NOTIFY_FANOUT_INTERVAL_MS 200

/* Deliveries one sweep publishes again; the next sweep takes the rest. */
#define FS_NOTIFY_SWEEP_MAX 1000

/* A receiver's answer we read: only its status matters. A longer body fails
 * the attempt (it is retried). */
#define FS_NOTIFY_RESPONSE_BODY_MAX_BYTES (64 * 1024)

/* A claim (or the fan-out's lease) holds the delivery for the timeout plus
 * this margin: a second message for it arriving meanwhile is put back until
 * then, and the attempt's own deadline (the timeout) ends before it. */
#define FS_NOTIFY_LEASE_MARGIN_MS 5000

/* A message that arrives this much before its delivery is due is still
 * taken (the broker's timer and PostgreSQL's clock differ a little). */
#define FS_NOTIFY_DUE_SLACK_MS 1000

/* The delivery timeout's bounds (FINSYS_WEBHOOK_TIMEOUT_MS): the lease above
 * must end before the broker's ack wait (FS_QUEUE_ACK_WAIT_MS) redelivers. */
#define FS_WEBHOOK_TIMEOUT_MS_MAX 20000

/* `finsys webhook-sink` (src/provider/sink.c), the receiver make bench
 * registers: a delivery's body is one event (a payment or a refund as the API
 * answers it, a few KB even with full metadata); 1 MiB never refuses a real
 * one and bounds what one connection makes the sink buffer. Above it evhttp
 * answers 413 (the delivery then fails, which the bench would show). */
#define FS_WEBHOOK_SINK_BODY_MAX_BYTES (1024 * 1024)

/* --- Redis (src/redis) --- */

/* Lua scripts one connection keeps the SHA1 of: each module has one or two. */
#define FS_REDIS_SCRIPTS_MAX 16

/* Reconnection back-off, doubling from the first to the second: Redis is
 * back within a second of a restart, and a long outage costs one attempt
 * every two seconds per loop. */
#define FS_REDIS_RECONNECT_MS_MIN 100
#define FS_REDIS_RECONNECT_MS_MAX 2000

/* A connection attempt gets at least this long (or the command timeout if
 * longer): connecting on loopback takes well under a millisecond. */
#define FS_REDIS_CONNECT_MS_MIN 1000

/* Commands in a row answered by their timeout before the connection is
 * dropped and made again: a Redis that stopped (SIGSTOP, a long fork) holds
 * the connection open, and only a new one finds out it is back. */
#define FS_REDIS_LATE_MAX 3

/* Commands one connection may have waiting for their answers; past it a
 * command is answered unavailable at once rather than queued without bound. */
#define FS_REDIS_PENDING_MAX 65536

/* FINSYS_REDIS_TIMEOUT_MS: a command answers in well under a millisecond on
 * loopback; the default leaves room for a loaded machine, and the maximum
 * keeps a stalled Redis from adding more than a second to any request. */
#define FS_REDIS_TIMEOUT_MS_DEFAULT 100
#define FS_REDIS_TIMEOUT_MS_MAX 1000

/* --- distributed locks (src/lock, db/functions/locks.sql) --- */

/* The lease of a singleton job's lock (finsys job, the server's purge): the
 * purge's one transaction takes well under a second; a holder that dies
 * keeps others out this long at most. finsys job --lease-ms may set another
 * within the bounds below. */
#define FS_LOCK_JOB_LEASE_MS 10000
#define FS_LOCK_LEASE_MS_MIN 100
#define FS_LOCK_LEASE_MS_MAX 600000

/* The lease of an account's lock for an operator's balance operation: one
 * fs_batch transaction, milliseconds; the fencing token, not the lease,
 * keeps a late one from committing. */
#define FS_LOCK_ADMIN_LEASE_MS 5000

/* A holder extends its lease every lease / FS_LOCK_EXTEND_DIVISOR: two
 * extensions can fail (a Redis hiccup) before the lease ends. */
#define FS_LOCK_EXTEND_DIVISOR 3

/* An operator's request finding the account's lock held tries this many
 * more times, FS_LOCK_RETRY_MS apart, then gets 409 lock_busy. */
#define FS_LOCK_ACQUIRE_RETRIES 5
#define FS_LOCK_RETRY_MS 50

/* A lock's resource name ("job:purge", "acct:<id>"): an account id and its
 * prefix fit. */
#define FS_LOCK_RESOURCE_LEN_MAX 80

/* finsys job --hold-ms (a test's or a drill's simulated long work) and
 * --wait-ms (how long to keep trying for a held lock). */
#define FS_JOB_HOLD_MS_MAX 3600000
#define FS_JOB_WAIT_MS_MAX 600000

/* An adjustment's reason, in bytes. */
#define FS_ADJUSTMENT_REASON_LEN_MAX 500
/* --- Rate limiting (src/ratelimit) --- */

/* FINSYS_RATE_LIMIT_PER_S / _BURST: an API key's default rate (a tenant's
 * own, set with `finsys tenant limits`, wins): 100 a second is what a busy
 * integration sends (Stripe's live-mode default), and a burst of twice that
 * absorbs a batch job's start. FINSYS_RATE_LIMIT_ADDR_*: one client address
 * (every key behind it together), ten times a key's. The maximum keeps the
 * emission interval (1/rate) at least a microsecond. */
#define FS_RATE_LIMIT_PER_S_DEFAULT 100
#define FS_RATE_LIMIT_BURST_DEFAULT 200
#define FS_RATE_LIMIT_ADDR_PER_S_DEFAULT 1000
#define FS_RATE_LIMIT_ADDR_BURST_DEFAULT 2000
#define FS_RATE_LIMIT_MAX 1000000

/* How long a process (while Redis is down) keeps an API key's limits:
 * `finsys tenant limits` clears Redis's copy at once (which lives only
 * FS_APIKEY_AUTH_CACHE_S), so this bounds how long a process that lost
 * Redis uses old limits. The limits alone: the key itself is checked by the
 * store then. */
#define FS_RATELIMIT_AUTH_TTL_S 60

/* Buckets of the in-process limiter (used while Redis is down), for the
 * whole process: about 100 bytes each. When full, the idlest bucket of a
 * key's probe window is taken over, which can only let its owner through
 * sooner, never refuse anyone wrongly. */
#define FS_RATELIMIT_LOCAL_BUCKETS_MAX 16384
#define FS_RATELIMIT_LOCAL_PROBES 8
/* --- The cache (src/cache) --- */

/* An account's cached JSON lives this long: the bound on how long it can be
 * served stale when its invalidation was lost (Redis crashed right after
 * taking it, or stayed away longer than FS_CACHE_BUMPS_PENDING_MAX allows),
 * and short enough that a hot account still comes from Redis nearly always. */
#define FS_CACHE_ACCOUNT_TTL_S 60

/* An account's generation lives this long after its last change or fill:
 * longer than any entry tagged with it, so it never expires under one. */
#define FS_CACHE_GEN_TTL_S 3600

/* An invalidation Redis did not take is sent again this often until it is;
 * meanwhile the process serves no account from Redis. */
#define FS_CACHE_BUMP_RETRY_MS 200

/* Invalidations one loop keeps waiting for Redis; past it the oldest are
 * dropped (FS_CACHE_ACCOUNT_TTL_S bounds them), not kept without bound. */
#define FS_CACHE_BUMPS_PENDING_MAX 100000

/* A replay entry (an Idempotency-Key's stored outcome) lives in Redis at
 * most this long, and never longer than the idempotency TTL. It is written
 * when the database replays the key (a client retried), which may be late
 * in the key's retention: the database's record goes at its creation plus
 * the TTL, so an entry written then could be served (for the same request
 * only) up to this long after the database forgot the key. An hour covers
 * a client's retries and bounds that overrun. */
#define FS_CACHE_REPLAY_TTL_S 3600

/* Accounts one invalidation script names (a group names at most two per
 * item). */
#define FS_CACHE_BUMP_KEYS_MAX 256

/* Series (label value sets) one metric family keeps. The labels come from
 * bounded sets (route templates x methods x status classes is ~150 at most,
 * currencies a few); a bound still keeps a bug from growing /metrics without
 * end. Past it, new label values are counted as "other". */
#define FS_METRICS_SERIES_MAX 256

/* A metric's label value, in bytes (route templates are the longest). */
#define FS_METRICS_LABEL_LEN_MAX 63

/* --- admin console: static files and the live stream --- */

/* Files of the built console (web/dist) read into memory at start-up: a
 * Vite build is a few dozen; the bound keeps a wrong FINSYS_WEB_DIR (a home
 * directory, say) from being read whole. */
#define FS_ADMIN_STATIC_FILES_MAX 512

/* Their bytes in all: the console with its source maps is a few MiB. */
#define FS_ADMIN_STATIC_BYTES_MAX (64 * 1024 * 1024)

/* Directory levels walked under FINSYS_WEB_DIR (dist/assets/... is two). */
#define FS_ADMIN_STATIC_DEPTH_MAX 8

/* A file's name relative to the directory, in bytes. */
#define FS_ADMIN_STATIC_NAME_LEN_MAX 255

/* Stream clients (GET /admin/api/stream) one server process keeps open,
 * all loops together: operators, not customers, watch it. Beyond: 503. */
#define FS_ADMIN_STREAM_CLIENTS_MAX 64

/* Stream clients from one address: a few tabs of a few people behind one
 * NAT. Beyond: 429. */
#define FS_ADMIN_STREAM_CLIENTS_PER_ADDR_MAX 8

/* A client whose unsent output grows past this (a stalled or slow reader)
 * is dropped; its page reconnects and starts again from the overview. */
#define FS_ADMIN_STREAM_CLIENT_BUFFER_MAX_BYTES (1024 * 1024)

/* The comment line sent to an idle stream, so proxies and the browser keep
 * it open (docs/console.md: 15 s); FINSYS_ADMIN_STREAM_KEEPALIVE_MS may set
 * it (tests use less). */
#define FS_ADMIN_STREAM_KEEPALIVE_MS 15000

/* The reconnect delay the stream tells the browser ("retry:"). */
#define FS_ADMIN_STREAM_RETRY_MS 2000

/* Messages from the broker waiting for one loop thread; past it the newest
 * are dropped (the page resyncs from the overview). 100 ms indexer runs make
 * about 10 a second. */
#define FS_ADMIN_STREAM_LOOP_QUEUE_MAX 1024

/* Recent payment events the hub keeps for a client that reconnects with
 * Last-Event-ID: a few seconds of traffic at bench rates. */
#define FS_ADMIN_STREAM_REPLAY_EVENTS_MAX 4096

/* The worker publishes its breaker state on fs.live.status when it changes
 * and at least this often. */
#define FS_ADMIN_LIVE_STATUS_INTERVAL_MS 5000

/* While a console watches (a stream client is open, or left less than 30 s
 * ago and may come back with Last-Event-ID), each server says so on
 * fs.live.watching this often; the worker's indexer asks PostgreSQL for the
 * live summary only while it heard that within FS_ADMIN_LIVE_WATCH_TTL_MS
 * (three announcements: one lost message does not stop the stream). Nobody
 * watching costs the indexer's runs nothing (building the summary costs
 * PostgreSQL 3-10 us an event). */
#define FS_ADMIN_LIVE_WATCH_INTERVAL_MS 1000

/* A stream is authenticated once, when it opens: it ends after this long
 * (with "event: end", reason "reauthenticate"), and the browser's
 * EventSource reconnects through the session check again, Last-Event-ID
 * carrying the page over the gap. So a disabled member, or a session that
 * expired or logged out, keeps a stream at most this long.
 * FINSYS_ADMIN_STREAM_REAUTH_S overrides it (tests). */
#define FS_ADMIN_STREAM_REAUTH_S 300

/* Between those, each stream's credential (its session, or its operator
 * key) is asked about again this often, on the server's store: a revoked
 * key, a disabled member or an ended session loses its stream within this
 * (issue 13: revocation effective within seconds). 64 clients at most a
 * process (FS_ADMIN_STREAM_CLIENTS_MAX): 13 lookups a second at most.
 * FINSYS_ADMIN_STREAM_RECHECK_MS overrides it (tests). */
#define FS_ADMIN_STREAM_RECHECK_MS 5000
#define FS_ADMIN_LIVE_WATCH_TTL_MS 3500

/* One events message on fs.live.events: a full indexer run
 * (FS_INDEX_RUN_EVENTS_MAX) of ~300-byte summaries fits, below the broker's
 * default max_payload of 1 MiB. */
#define FS_ADMIN_LIVE_MESSAGE_MAX_BYTES (1000 * 1000)

/* --- admin console: read views (db/functions/admin_views.sql) --- */

/* Attempts a webhook delivery's attempt_log keeps (the latest ones;
 * fs_webhook_finish appends, 0020_admin_views.sql). A delivery retried for
 * the whole retry period makes about this many attempts with the doubling
 * back-off; the attempts column still counts them all. ~90 bytes each. */
#define FS_ADMIN_ATTEMPT_LOG_MAX 20

/* Items a page of an admin list holds, and the default: as /v1's lists. */
#define FS_ADMIN_LIST_LIMIT_MAX 100
#define FS_ADMIN_LIST_LIMIT_DEFAULT 25

/* A list's q (text search, id prefix or name fragment), in characters: a
 * longer one is a mistake, and the text match costs with its length. */
#define FS_ADMIN_Q_LEN_MAX 200

/* The overview's window: per-second series and rates over the last this
 * many seconds of the event log. */
#define FS_ADMIN_OVERVIEW_WINDOW_S 300

/* Rows of each section of a payment's detail (refunds, journal entries,
 * webhook deliveries): a payment has a handful; the bound keeps a
 * pathological one from making an unbounded answer. */
#define FS_ADMIN_DETAIL_ITEMS_MAX 200

/* --- admin console: staff, sessions, audit (src/admin) --- */

/* A session ends after this long without a request (FINSYS_ADMIN_SESSION_IDLE_S
 * overrides it, for the tests): an unattended console stops being a way in. */
#define FS_ADMIN_SESSION_IDLE_S (30 * 60)

/* ...and this long after login whatever its use (FINSYS_ADMIN_SESSION_MAX_S):
 * a stolen cookie is worth a working day at most. */
#define FS_ADMIN_SESSION_MAX_S (12 * 60 * 60)

/* Failed logins for one email within FS_ADMIN_LOGIN_WINDOW_S that lock it for
 * the rest of that window: slows password guessing to a crawl while a user
 * who mistypes a few times is not locked out. */
#define FS_ADMIN_LOGIN_FAILURES_MAX 5
#define FS_ADMIN_LOGIN_WINDOW_S (15 * 60)

/* A session token and a CSRF token: 32 random bytes each (256 bits), sent
 * base64url without padding (43 characters). */
#define FS_ADMIN_TOKEN_BYTES 32
#define FS_ADMIN_TOKEN_LEN 43

/* An email address (RFC 5321's path limit) and a login's password: argon2id
 * hashes any length, but a megabyte password is only a way to burn CPU. */
#define FS_ADMIN_EMAIL_LEN_MAX 254
#define FS_ADMIN_PASSWORD_LEN_MAX 256
#define FS_ADMIN_PASSWORD_LEN_MIN 12

/* A generated password: 20 base62 characters, about 119 bits. */
#define FS_ADMIN_PASSWORD_GEN_LEN 20

/* The "reason" of a state-changing admin action (docs/console.md). */
#define FS_ADMIN_REASON_LEN_MAX 500

/* Requests to /admin/api per minute per address and per staff member or
 * admin key, counted by each server thread (src/admin's limiter): far above
 * what a person clicking makes, far below a script trying passwords. */
#define FS_ADMIN_RATE_PER_MIN 600

/* Slots of that limiter's table per thread: more than the addresses and
 * staff one thread sees in a minute; a colliding key takes the slot over. */
#define FS_ADMIN_RATE_SLOTS 1024

/* Password hashes and verifications waiting for the hashing thread (about
 * 50 ms each): past it a login gets 503 rather than a queue of seconds. */
#define FS_ADMIN_HASH_QUEUE_MAX 64

/* Routes of the admin API's table (src/admin; 38 today): its metrics are
 * kept by route after /v1's FS_API_ROUTES_MAX (src/http/server.c). */
#define FS_ADMIN_ROUTES_MAX 48

/* Query parameters of an admin GET data route (the payments list has 13). */
#define FS_ADMIN_QUERY_PARAMS_MAX 16

/* --- finance: statements and daily rollups (issue 12) --- */

/* A statement's period (GET /v1/accounts/{id}/statement): at most a year,
 * so that the walk back through the account's entries since `from` stays
 * bounded; FS_STATEMENT_DAYS_DEFAULT before `to` when `from` is omitted. */
#define FS_STATEMENT_DAYS_MAX 366
#define FS_STATEMENT_DAYS_DEFAULT 31

/* Journal entries on one statement page (keyset on the entry id): 100 by
 * default, at most 1000 (~200 bytes each, a 200 KB answer). */
#define FS_STATEMENT_ENTRIES_DEFAULT 100
#define FS_STATEMENT_ENTRIES_MAX 1000

/* How much longer than any transaction that writes journal entries may run
 * (the statement timeout is 10 s): a statement walks an account's entries
 * back to the first one older than `from` minus this, and assumes every
 * entry with a smaller id is older than `from` (db/functions/reports.sql). */
#define FS_STATEMENT_SKEW_S 3600

/* Days in one GET /v1/reports/daily (both ends included): at most a year,
 * at most FS_REPORT_DAYS_MAX x 10 currencies rows; 31 days ending today
 * (UTC) by default. */
#define FS_REPORT_DAYS_MAX 366
#define FS_REPORT_DAYS_DEFAULT 31

/* Events one rollup run takes from the feed `rollups`: one upsert of a few
 * rows per tenant and day, ~10 ms per thousand events; a full run is
 * followed by another at once, as the indexer's. */
#define FS_ROLLUP_RUN_EVENTS_MAX 1000

/* --- finance: reconciliation (issue 12) --- */

/* Lines per page of the provider simulator's settlement report (GET
 * /reports/settlements): a page of 1,000 lines is about 250 KB of JSON, so
 * neither side buffers much; more pages come with ?after=<key>. */
#define FS_RECON_REPORT_PAGE_MAX 1000

/* Provider lines one reconciliation holds (the whole day is matched in one
 * transaction, sent as one jsonb of about 200 bytes a line): 1,000,000 lines
 * is about 200 MB, a day at 11 payments/s sustained. A bigger day fails with a
 * clear error rather than matching part of it. */
#define FS_RECON_LINES_MAX 1000000

/* Breaks written per reconciliation: past it the run is recorded with
 * status "breaks" and truncated = true (a day with a million breaks is an
 * outage, not something to list). */
#define FS_RECON_BREAKS_MAX 100000

/* Breaks shown by GET /v1/reconciliations/{date}: one answer stays small;
 * the counts are always complete. */
#define FS_RECON_BREAKS_SHOWN_MAX 1000

/* How often the worker reconciles the previous day (FINSYS_RECON_INTERVAL_S
 * overrides, for tests and drills): once a day. A run finds the day already
 * reconciled harmlessly: it replaces the result with the same. */
#define FS_RECON_INTERVAL_S (24 * 3600)
#define FS_RECON_INTERVAL_S_MIN 1
#define FS_RECON_INTERVAL_S_MAX (7 * 24 * 3600)

/* The reconciliation's lock, job:reconcile: its lease, extended while the
 * report is fetched (every lease / FS_LOCK_EXTEND_DIVISOR). */
#define FS_RECON_LEASE_MS 30000

/* One HTTP call to the provider's report: a page is small and the provider
 * near; past it the run fails (exit 1) and the next one tries again. */
#define FS_RECON_HTTP_TIMEOUT_S 30

/* A report page's body: FS_RECON_REPORT_PAGE_MAX lines of at most ~600 bytes
 * (keys up to 255 bytes). */
#define FS_RECON_PAGE_BODY_MAX_BYTES (1024 * 1024)

/* --- finance: exports (issue 12) --- */

/* Rows of one export: a million (the largest; about 100 MB of CSV,
 * streamed). Past it the export fails naming the limit: narrow the filters
 * (a created range) and make several. */
#define FS_EXPORT_ROWS_MAX 1000000

/* Exports of one tenant pending or running at once: each holds a worker's
 * export thread and a database cursor for seconds; past it POST /v1/exports
 * is 429 until one finishes. */
#define FS_EXPORT_CONCURRENT_PER_TENANT 2

/* Rows fetched from the cursor at a time: memory is one page of rows plus
 * one CSV chunk, whatever the export's size. */
#define FS_EXPORT_PAGE_ROWS 1000

/* Bytes of CSV gathered before a write to the object store's temp file. */
#define FS_EXPORT_CHUNK_BYTES (64 * 1024)

/* A running export whose worker has not finished it within this lease is
 * taken again by any worker (a crash mid-export leaves it running). Far
 * above a million-row export's time (seconds; docs/operations.md). */
#define FS_EXPORT_LEASE_S 600

/* Tries of one export (a crash each time) before it is marked failed. */
#define FS_EXPORT_ATTEMPTS_MAX 3

/* How often an idle export thread looks for work (ms). */
#define FS_EXPORT_POLL_MS 500

/* The export thread's nice value (Linux: per thread): it yields the CPU to
 * the worker's settlement and readers. Its PostgreSQL backend's too (nice
 * and autogroup), when the worker may set it (src/export/peer.c): it
 * yields to the payment path's backends. */
#define FS_EXPORT_NICE 10

/* Bytes of one string filter of an export (a status, currency, account id
 * or date-time: all far shorter). */
#define FS_EXPORT_FILTER_LEN_MAX 64

/* --- risk review and the write path's rules (issue 12, docs/risk.md) --- */

/* Bytes of a review's reason (POST /v1/payments/{id}/review): a note for
 * the audit trail, kept on the payment and in its event. */
#define FS_REVIEW_REASON_LEN_MAX 500

/* --- risk metrics (issue 12) --- */

/* Distinct rule ids finsys_risk_rule_matches_total keeps as its rule label
 * (src/metrics); matches of ids past it count under rule="other". Rule ids
 * are unbounded (each tenant makes its own, up to FS_RISK_RULES_MAX live),
 * and one id may appear with each of 3 actions x 2 modes (a rule's action
 * and mode can be changed): 200 ids is at most 1,206 series with "other",
 * about 120 KB of /metrics and 270 KB of slots at worst, while a fleet's
 * busiest rules, the ones a dashboard shows, are far fewer. */
#define FS_METRICS_RISK_RULES_MAX 200
/* --- risk rules (issue 12) --- */

/* Live (not deleted) rules of one tenant. Every payment of the tenant is
 * decided against each of them inside the commit that checks its funds,
 * under the payer's row lock (db/functions/batch.sql, step 3): a rule costs
 * every payment some work while that lock is held. 50 holds a risk team's
 * rule set with room to spare. Past it POST /v1/risk_rules is 400
 * invalid_request saying so (nothing is kept under the Idempotency-Key:
 * delete a rule and send the same request again). */
#define FS_RISK_RULES_MAX 50

/* Entries of one tenant's lists, all lists together. The write path finds
 * the entries naming the accounts a group locked through an index, so the
 * size costs a payment nothing; the bound keeps a runaway script from
 * filling the table (a list of every account is not a block list). Past it
 * POST /v1/risk_lists is 400 invalid_request, as the rules' limit. */
#define FS_RISK_LIST_ENTRIES_MAX 100000

/* A rule's name, in bytes of UTF-8: a label for people (as an account's). */
#define FS_RISK_RULE_NAME_LEN_MAX FS_NAME_LEN_MAX

/* A list's name: 1 to 64 of [a-z0-9_] ("blocklist", "trusted_payers"). */
#define FS_RISK_LIST_NAME_LEN_MAX 64

/* A list entry's reason, in bytes: as an admin action's reason, which an
 * entry the console makes takes as its own. */
#define FS_RISK_LIST_REASON_LEN_MAX FS_ADMIN_REASON_LEN_MAX

/* Velocity windows (window_minutes): 1 minute to 7 days. The counters keep
 * minute buckets for the last FS_RISK_WINDOW_MINUTE_BUCKETS minutes and hour
 * buckets up to FS_RISK_WINDOW_MINUTES_MAX (0024_risk.sql), so a window
 * longer than an hour must be a whole number of hours: anything else could
 * not be counted exactly. */
#define FS_RISK_WINDOW_MINUTES_MAX 10080
#define FS_RISK_WINDOW_MINUTE_BUCKETS 60

/* velocity_count's count: a payer's accepted payments in a window. A
 * million is beyond any human payer; the counters are 32-bit. */
#define FS_RISK_COUNT_MAX 1000000

/* new_account_amount's account_age_hours: 1 hour to a year, a day when not
 * given (docs/risk.md). */
#define FS_RISK_ACCOUNT_AGE_HOURS_MAX 8760
#define FS_RISK_ACCOUNT_AGE_HOURS_DEFAULT 24

/* currency_not_allowed's allowed: at most 50 codes (a payment is compared
 * with each; more than 50 allowed currencies is better said as a short
 * block list of the others). */
#define FS_RISK_ALLOWED_CURRENCIES_MAX 50

/* metadata_equals: the key (1..64 bytes) and the string value (at most 256
 * bytes) a payment's metadata is compared with. */
#define FS_RISK_METADATA_KEY_LEN_MAX 64
#define FS_RISK_METADATA_VALUE_LEN_MAX 256

/* A rule's score: 0..100 (a payment's score is the sum of its matched
 * active rules' scores, capped at this). */
#define FS_RISK_SCORE_MAX 100
/* --- console: review and reports (issue 12) --- */

/* Days in one GET /admin/api/reports/daily (both ends included): a year,
 * as /v1's FS_REPORT_DAYS_MAX. Across tenants the read is one index range
 * per tenant (daily_rollups' (tenant_id, day) prefix) and the answer at most
 * FS_ADMIN_REPORT_DAYS_MAX x 10 currencies rows, summed over the tenants;
 * 31 days ending today (UTC) when from and to are left out. */
#define FS_ADMIN_REPORT_DAYS_MAX 366
#define FS_ADMIN_REPORT_DAYS_DEFAULT 31

/* Bytes of a review's decision ("approve" or "reject"): anything longer is
 * refused before it is compared. */
#define FS_ADMIN_REVIEW_DECISION_LEN_MAX 16

/* --- the broker's outages (issue 13) --- */

/* fs_queue_close waits this long for the libnats callback thread to finish
 * this connection's callbacks (a set-up of the streams, whose requests fail
 * at once once the connection is closed): past it the queue is left
 * allocated rather than freed under a callback that may still use it. */
#define FS_QUEUE_CLOSE_CALLBACKS_WAIT_S 10

/* Pages (of FS_WORKER_SWEEP_MAX rows of each kind) one sweep tick takes at
 * most, and the time after which it takes no new page. A one-minute broker
 * outage at 2,000 payments/s leaves 120,000 rows: two ticks at most, where
 * one page a tick took twenty minutes. Pages follow each other at once, each
 * a store call on one of the worker's connections and a thousand publishes
 * into the publish window (FS_QUEUE_PUBLISH_PENDING_MAX); the bounds keep one
 * sweep within half the default tick (FINSYS_SWEEP_INTERVAL_S, 10 s), and
 * the next tick goes on from the cursor. */
#define FS_WORKER_SWEEP_PAGES_MAX 100
#define FS_WORKER_SWEEP_BUDGET_MS 5000

/* --- webhook destinations (issue 13) --- */

/* Networks in FINSYS_WEBHOOK_ALLOWED_NETWORKS: the exceptions to the
 * refused destinations an operator names (its loopback in development, a
 * TLS-terminating proxy on its network), a handful; each delivery compares
 * its address with each, so the list stays short. */
#define FS_WEBHOOK_ALLOWED_NETWORKS_MAX 32

/* --- Redis credentials (issue 13) --- */

/* A Redis user name and password in FINSYS_REDIS_URL (decoded): Redis ACL
 * names are short; a generated password is 32 to 64 bytes. Longer is a
 * mistake, refused at start with the URL's form. */
#define FS_REDIS_USER_LEN_MAX 128
#define FS_REDIS_PASSWORD_LEN_MAX 512

/* --- local stack and fuzzing (issue 13) --- */

/* Elements a fuzzed Redis reply may announce in one array header
 * (fuzz/fuzz_redis_reply.c): hiredis 0.14 (Debian 12) allocates an array's
 * element pointers when it reads the header, before any element arrives, and
 * has no maxelements setting (hiredis 1.0 added one). Redis is trusted
 * (docs/operations.md "Security") and never announces more than a reply
 * holds, so the target skips inputs announcing more rather than report an
 * allocation of gigabytes that is hiredis' and not FinSys's. */
#define FS_FUZZ_REDIS_ELEMENTS_MAX 4096

/* Seconds make test's fuzz smoke runs each fuzz target (FUZZ_SMOKE_SECONDS
 * in scripts/test.sh overrides): long enough to go through its seed corpus
 * and some thousands of mutations, short enough for four targets on a
 * 2-core CI machine. make fuzz runs each FUZZ_SECONDS, 60 by default. */
#define FS_FUZZ_SMOKE_SECONDS 3

/* Seconds `finsys server` and `finsys worker` wait at start to connect once
 * and check the database role (src/store/role.c) when FINSYS_DATABASE_URL
 * sets no connect_timeout: a database that is down must not hold the start
 * (the server starts without one and reports it in /readyz); each
 * connection made later is checked too. */
#define FS_STORE_ROLE_CHECK_CONNECT_S 5

/* --- API keys (issue 13) --- */

/* The longest Redis keeps its copy of a key's tenant (fs:auth:<hash>,
 * src/ratelimit), and so the longest a revoked or expired key can still be
 * answered from what Redis holds under it (its accounts' and replays'
 * entries, src/cache): a revocation deletes that copy at once, and this
 * bounds the cases its deletion misses (a request that read the key as live
 * just before the revocation committed and refills the copy just after;
 * Redis away during the revocation; a key revoked by hand in psql). Every
 * other answer checks the key in PostgreSQL. A key's copy never outlives
 * its expires_at either. Costs one `auth` read per key this often. */
#define FS_APIKEY_AUTH_CACHE_S 5

/* A rotation's overlap (finsys apikey rotate --overlap, the admin API's
 * overlap_s): how long the old key keeps working beside the new one. A day
 * by default, time to deploy the new key everywhere; at most 30 days, so
 * that a rotation is never a way to keep a replaced key for good; 0 ends
 * the old key at once. */
#define FS_APIKEY_ROTATE_OVERLAP_DEFAULT_S 86400
#define FS_APIKEY_ROTATE_OVERLAP_MAX_S (30 * 86400)

/* A new key's expiry (finsys apikey create --expires-in, the admin API's
 * expires_in_s): from 1 s to about three years (a key meant to live longer
 * than that is one that is never rotated: create it without an expiry). */
#define FS_APIKEY_EXPIRES_IN_MAX_S (1096 * 86400)

/* Keys `finsys apikey list` prints for a tenant, newest first: more than a
 * tenant rotating daily for a year keeps; the rest is counted, not shown. */
#define FS_APIKEY_LIST_MAX 1000

/* How long the command line waits for Redis when it drops a revoked or
 * rotated key's cached tenant (finsys apikey revoke, rotate). */
#define FS_APIKEY_CLI_REDIS_TIMEOUT_MS 2000

/* --- floods and slow clients (issue 13) --- */

/* Unknown API keys (src/ratelimit). A key the rate limit's check does not
 * find cached in Redis costs a database lookup; an address that presents
 * keys nobody issued (a flood of made-up keys) must not make the database
 * pay for each. So: the address's bucket is taken before any lookup; a key
 * the database called unknown is remembered per process for
 * FS_AUTH_NEGATIVE_TTL_S (answered 401 at once, no lookup), in a table of
 * FS_AUTH_NEGATIVE_CACHE_MAX entries (about 80 bytes each: 640 KB; when a
 * probe window is full its soonest-expiring entry goes, which can only cost
 * one more lookup); and the lookups of uncached keys from one address are a
 * budget of their own, refunded when the key turns out live, so that random
 * keys from one address cost at most FS_AUTH_LOOKUP_ADDR_BURST lookups and
 * then FS_AUTH_LOOKUP_ADDR_PER_S a second, whatever its request budget: a
 * real client looks up a handful of keys a minute (each is cached for
 * FS_RATELIMIT_AUTH_TTL_S), never twenty unknown ones at once. Past it: 429. */
#define FS_AUTH_NEGATIVE_TTL_S 60
#define FS_AUTH_NEGATIVE_CACHE_MAX 8192
#define FS_AUTH_NEGATIVE_PROBES 8
#define FS_AUTH_LOOKUP_ADDR_PER_S 1
#define FS_AUTH_LOOKUP_ADDR_BURST 20

/* A key the database found live is remembered this long by the process
 * (src/ratelimit, live_keys; the same table size): its next lookups, each
 * time Redis's copy of it expires, spend none of its address's lookups. A
 * key revoked meanwhile is still looked up, and then forgotten. */
#define FS_AUTH_LIVE_TTL_S 600

/* FINSYS_HTTP_CONNECTIONS_MAX: open HTTP connections of one server process.
 * Each costs a descriptor and a few KB; 10,000 is far past what the loops
 * serve at once (a client keeps one or a few keep-alive connections) and
 * keeps a flood of idle sockets from taking every descriptor. Past it a
 * new connection is closed at once. */
#define FS_HTTP_CONNECTIONS_MAX_DEFAULT 10000
#define FS_HTTP_CONNECTIONS_MAX_MAX 1000000

/* FINSYS_HTTP_CONNECTIONS_PER_ADDR_MAX: open connections from one client
 * address (IPv4 or IPv6, as the socket says), so that one client cannot
 * hold the process's cap. 256 serves a busy integration's pool, or a
 * small NAT; a load balancer in front counts as one address: raise it
 * there (docs/operations.md). */
#define FS_HTTP_CONNECTIONS_PER_ADDR_DEFAULT 256

/* FINSYS_HTTP_HEADER_TIMEOUT_MS: a request's head (request line and
 * headers, at most FS_HEADERS_MAX_BYTES) must arrive within this from its
 * first byte (a new connection's: from the accept). A real client sends it
 * in one packet; 10 s allows a slow mobile link, and a slowloris client
 * that trickles a byte at a time is cut off then, whatever the idle
 * timeout. */
#define FS_HTTP_HEADER_TIMEOUT_MS_DEFAULT 10000

/* FINSYS_HTTP_BODY_TIMEOUT_MS: a request's body (at most FS_BODY_MAX_BYTES)
 * must arrive within this from the head's end: 1 MiB in 30 s is about
 * 35 KB/s, slower than any link a payment client uses. */
#define FS_HTTP_BODY_TIMEOUT_MS_DEFAULT 30000

/* The settable range of both deadlines (ms): tests use short ones. */
#define FS_HTTP_TIMEOUT_MS_MIN 100
#define FS_HTTP_TIMEOUT_MS_MAX 600000

/* When accept() fails (EMFILE, ENFILE: out of descriptors), the listener
 * pauses this long, doubling up to the maximum while it keeps failing,
 * rather than spinning on the connection it cannot take: at most 20
 * attempts a second at first, 1 a second after. */
#define FS_HTTP_ACCEPT_PAUSE_MIN_MS 50
#define FS_HTTP_ACCEPT_PAUSE_MAX_MS 1000

/* Descriptors a server process needs besides its HTTP connections (its
 * database and Redis connections, logs, epoll and the object store's
 * files): a warning at start when the open files limit leaves less. */
#define FS_HTTP_FD_RESERVE 256

/* A request refused 413 from its Content-Length is answered and closed;
 * what the client still sends is read and dropped for at most this long
 * (a "lingering close"), so that it reads the answer rather than a reset.
 * At most FS_HTTP_LINGER_MAX such sockets per event loop: past it the
 * socket is just closed. */
#define FS_HTTP_LINGER_MS 2000
#define FS_HTTP_LINGER_MAX 256

/* Buckets of the guard's tables: the connections of one loop (by their
 * bufferevent) and the addresses of the process (chained: any number). */
#define FS_HTTP_GUARD_BUCKETS 4096
#define FS_HTTP_ADDR_BUCKETS 4096

/* Bytes of a head's line the guard keeps to read it: a Content-Length or
 * Transfer-Encoding header and the method fit; a longer line is not one it
 * reads (evhttp's transport cap, FS_BODY_TRANSPORT_MAX_BYTES, still
 * refuses a body it declares). */
#define FS_HTTP_HEAD_LINE_KEEP 128

/* --- webhook fairness (issue 13) --- */

/* A delivery's attempt has FINSYS_WEBHOOK_TIMEOUT_MS in all, from the moment
 * the notifier takes it (waiting for a connection included) to the last
 * byte of the answer: a total deadline (the job's timer in src/notify), not
 * an idle timeout that each trickled byte would start again. */

/* An endpoint not proven healthy (no 2xx yet from this worker, its last
 * attempt failed, or an attempt of it has run longer than
 * FS_NOTIFY_ENDPOINT_SLOW_MS) may hold this many attempts at once (on a
 * connection or in line): as many as a receiver's connections
 * (FS_NOTIFY_HOST_CONNS), so that none of them waits in line for a receiver
 * that may never answer. A proven endpoint (a 2xx, promptly) has no cap of
 * its own: make bench's one receiver takes bursts of hundreds. */
#define FS_NOTIFY_ENDPOINT_INFLIGHT_MAX 8

/* An endpoint with an attempt running longer than this is no longer proven:
 * a healthy receiver answers in milliseconds, a second is already slow. */
#define FS_NOTIFY_ENDPOINT_SLOW_MS 1000

/* One tenant's attempts to endpoints not proven, at once in one worker: a
 * quarter of FS_NOTIFY_INFLIGHT_MAX, so that one tenant's 16 dead or
 * trickling endpoints (FS_WEBHOOK_ENDPOINTS_MAX x
 * FS_NOTIFY_ENDPOINT_INFLIGHT_MAX = 128) cannot hold the slots the other
 * tenants' deliveries need. */
#define FS_NOTIFY_TENANT_INFLIGHT_MAX 64

/* All tenants' attempts to endpoints not proven, at once in one worker:
 * half of FS_NOTIFY_INFLIGHT_MAX; the other half stays for proven
 * endpoints, however many tenants misbehave together. */
#define FS_NOTIFY_UNPROVEN_INFLIGHT_MAX 128

/* A delivery over one of these caps, or to an endpoint whose breaker is
 * open, is deferred (no attempt made or counted): due again after the
 * breaker's cool-off, or after FINSYS_WEBHOOK_TIMEOUT_MS (by then an
 * attempt holding the cap has ended), plus up to this percentage of that
 * wait at random, so that deferred deliveries do not all come back at once. */
#define FS_NOTIFY_DEFER_JITTER_PCT 50

/* The per-endpoint circuit breaker (in each worker): after this many
 * consecutive failed attempts (no 2xx: an error status, a refused or reset
 * connection, the deadline) the endpoint is skipped for a cool-off; then one
 * trial attempt goes (half-open): a 2xx closes the breaker, a failure opens
 * it again for twice the cool-off, at most FS_NOTIFY_BREAKER_COOLOFF_MAX_MS.
 * Five: a receiver's brief hiccup (a deploy, a 503 or two) does not trip it;
 * a dead one trips within one round of its capped attempts. */
#define FS_NOTIFY_BREAKER_FAILURES 5
#define FS_NOTIFY_BREAKER_COOLOFF_MS 10000
/* Ten minutes: a receiver down for hours is tried about six times an hour
 * (the deliveries' own back-off, at most an hour, still applies). */
#define FS_NOTIFY_BREAKER_COOLOFF_MAX_MS (600 * 1000)

/* An endpoint's state in a worker (breaker, proven, attempts in flight) is
 * forgotten once it has had no attempt for this long and its breaker is
 * closed (or its cool-off ended this long ago): the table holds the
 * endpoints in use, not every endpoint ever seen. */
#define FS_NOTIFY_ENDPOINT_FORGET_MS (10 * 60 * 1000)

/* Buckets of the worker's endpoint and tenant tables (chained hashing): a
 * few per endpoint in use at a time in a busy worker. */
#define FS_NOTIFY_TABLE_BUCKETS 1024

/* A webhook signing secret's bytes: FinSys makes "whsec_" and 32 base62
 * characters (38); room for a longer one an operator wrote in the table
 * before secrets were sealed, within what a sealed secret's buffer holds. */
#define FS_NOTIFY_SECRET_LEN_MAX 64

/* --- operator authority (issue 13) --- */

/* Bytes of an API key's scope (db/migrations/0030_operator_authority.sql):
 * "tenant" or "operator:<role>", the longest "operator:support" (16). */
#define FS_ADMIN_SCOPE_LEN_MAX 32

/* --- https webhooks (issue 13) --- */

/* A webhook host name is resolved by the worker (evdns, on its loop) at
 * each attempt; the resolution gives up after this long (one try of each
 * name server, then one more): a dead resolver fails the attempt, within
 * FINSYS_WEBHOOK_TIMEOUT_MS in any case, and never holds a slot longer. */
#define FS_NOTIFY_DNS_TIMEOUT_MS 2000
#define FS_NOTIFY_DNS_ATTEMPTS 2

/* The resolved addresses of a webhook host the worker looks at: every one
 * of these is checked against the refused networks (one refused: the
 * delivery is refused), the first is connected to. Eight: more than any
 * receiver's round-robin needs, and a name cannot make the check walk an
 * unbounded answer. */
#define FS_NOTIFY_DNS_ADDRS_MAX 8

/* A webhook host name's length (RFC 1035: 253 characters, 63 a label). */
#define FS_NOTIFY_HOST_NAME_LEN_MAX 253
#define FS_NOTIFY_HOST_LABEL_LEN_MAX 63

/* A failed attempt's reason as stored in last_error: room for "TLS:
 * certificate verify failed: " and OpenSSL's longest usual reason. */
#define FS_NOTIFY_ERROR_LEN_MAX 127

/* --- flood bench (issue 13) --- */

/* make bench's flood of made-up keys (scripts/bench.sh, (b2)) answered as
 * fast as the server could: past its address's key lookups
 * (FS_AUTH_LOOKUP_ADDR_*), each request still cost the server about 65 us
 * of CPU and Redis 25 (a round trip to learn the key is not cached), so a
 * flooder on 8 keep-alive connections took about a core of the two for
 * its 429s, as fast as they came. Such a 429 is now held this long before
 * it is sent (its body dropped first): one answer a second per connection,
 * so a guessing address gets at most its open connections
 * (FINSYS_HTTP_CONNECTIONS_PER_ADDR_MAX, 256) answers a second, however
 * fast it sends. A real client never waits here: it would have to present
 * FS_AUTH_LOOKUP_ADDR_BURST keys nobody issued first, and its Retry-After
 * (1 s at the lookups' rate) is as long. */
#define FS_AUTH_GUESS_HOLD_MS 1000

/* Requests held so at once, per event loop: each keeps its request's
 * headers and a timer (about 2 KB with its connection), so 2048 is a few
 * MB; past it a guess's 429 is sent at once, as before. */
#define FS_AUTH_GUESS_HOLD_MAX 2048

/* --- reads (issue 13) --- */

/* Connections of each HTTP thread's read store, which runs the lists and
 * searches of the API (the ops both FS_OPF_READ and FS_OPF_SOLO) apart from
 * the write path's FS_STORE_CONNECTIONS_DEFAULT. One: on two cores every busy
 * read backend is CPU taken from payments, so reads get at most one backend
 * per thread (FINSYS_HTTP_THREADS in all), and a read never waits for a
 * write's connection nor a write for a read's. */
#define FS_READ_CONNECTIONS 1

/* Reads running in PostgreSQL at once in a server process, whatever the
 * threads' read connections. One: a list of 100 payments is milliseconds
 * of a core, and at full speed one read backend takes a core; on two cores
 * shared with the payments' backends and the server, a second would take
 * the other. Reads past it wait in their thread's queue (FS_READ_QUEUE_MAX),
 * where the tenant's cap (below) keeps one tenant from holding every place. */
#define FS_READ_RUNNING_MAX 1

/* The nice value of the read connections' PostgreSQL backends, when the
 * server may set it (the database on this machine, the server root or
 * PostgreSQL's user): as an export's (FS_EXPORT_NICE), a read then takes
 * the CPU the payments' backends leave, not its share of it. */
#define FS_READ_NICE 10

/* statement_timeout of the read store's sessions (their transactions are
 * read only). A list reads a page from an index in milliseconds; one that
 * runs 2 s is a filter no index serves (an account's rare status, a broad
 * search), and is cancelled with 503 read_timeout asking for a narrower
 * filter or a smaller limit, rather than holding a core for 10 s. */
#define FS_READ_STATEMENT_TIMEOUT_MS 2000

/* Reads queued for one thread's read store. Past it a read gets 503
 * reads_overloaded with Retry-After at once: with one connection, 64 reads
 * of a few milliseconds wait a fraction of a second; more would only wait
 * longer, and payments do not share this queue. */
#define FS_READ_QUEUE_MAX 64

/* Lists and searches one tenant may have at once in one process (queued or
 * running). Past it 429 too_many_concurrent_reads with Retry-After: four
 * keep a dashboard's parallel pages fast, while a tenant that hammers the
 * lists holds at most four of the read queues' places and cannot starve
 * other tenants' reads. */
#define FS_READ_CONCURRENT_PER_TENANT_MAX 4

/* Tenants with a read in flight that one process tracks (a fixed table,
 * scanned under a mutex). Each slot is a tenant with at least one read
 * queued or running, so no more than FINSYS_HTTP_THREADS times
 * (FS_READ_QUEUE_MAX + FS_READ_CONNECTIONS) are ever needed; a full table
 * answers 503 reads_overloaded. */
#define FS_READ_TENANTS_MAX 1024

/* A tenant's name in that table: a tenant id, or an API key's hash (64 hex
 * digits) when the key's tenant is not known yet. */
#define FS_READ_TENANT_LEN_MAX 72

/* --- reads past the cap, held (issue 13) --- */

/* A tenant past FS_READ_CONCURRENT_PER_TENANT_MAX gets its 429 (Retry-After:
 * 1) this late, as a guessing address does (FS_AUTH_GUESS_HOLD_MS, sharing
 * FS_AUTH_GUESS_HOLD_MAX): make bench's hostile reader, 8 connections that
 * do not wait, got 10,000 429s a second, answered as fast as it sent, and
 * that (with its own CPU on the same cores) took a third of the ingest. A
 * client that honours Retry-After waits as long anyway. */
#define FS_READ_BUSY_HOLD_MS 1000

/* --- Redis over TLS (issue 13) --- */

/* rediss://...?name=HOST: a DNS name's length (RFC 1035). */
#define FS_REDIS_TLS_NAME_LEN_MAX 253

/* Bytes the TLS bridge (src/redis/tls.c) holds unsent for one side of a
 * connection before it stops reading the other: a pipelined burst of
 * commands or a large reply passes, and a stalled side cannot make the
 * bridge buffer without bound. */
#define FS_REDIS_TLS_BUFFER_MAX_BYTES (1024 * 1024)

/* --- cluster (issue 14) --- */

/* FINSYS_NATS_REPLICAS: copies JetStream keeps of each stream (its
 * num_replicas). 1 for one broker (make run, make test); 3 in make cluster,
 * so that one node's loss keeps every message and a quorum (2 of 3) elects a
 * new stream leader. NATS allows at most 5 (a Raft group larger than that
 * costs more in consensus than it gains), and it cannot exceed the nodes. */
#define FS_NATS_REPLICAS_DEFAULT 1
#define FS_NATS_REPLICAS_MAX 5

/* FINSYS_NATS_URL may list several servers of one cluster, separated by
 * commas (handed to natsOptions_SetServers): the client tries them in turn
 * and reconnects to another when its node dies. 16 is more than any cluster
 * here (3 nodes), and FINSYS_NATS_URL's 512 bytes hold about that many. */
#define FS_NATS_SERVERS_MAX 16

/* --- object storage on S3 (issue 15) --- */

/* FINSYS_OBJECTS_URL's length: s3://, a bucket (63), a prefix and an
 * endpoint URL fit well inside it. */
#define FS_S3_URL_LEN_MAX 1023

/* Attempts of one S3 request before the store answers
 * FS_OBJECTS_UNREACHABLE: the first and three retries, on a connection
 * error, a timeout, 500, 502, 503 (SlowDown: throttled) or 504, as the AWS
 * SDKs' standard mode does. With the back-off below a request gives up after
 * about 0.7 s of waiting plus its attempts: a receipt read answers 503
 * quickly while S3 is away, and the receipt writer tries again later
 * (FS_RECEIPT_RETRY_AFTER_S) rather than holding its thread. */
#define FS_S3_ATTEMPTS 4

/* The back-off before retry n (1, 2, 3): FS_S3_BACKOFF_BASE_MS * 2^(n-1),
 * each with "full jitter" (a random wait up to it, at least a quarter of
 * it) so that threads throttled together do not retry together; at most
 * FS_S3_BACKOFF_MAX_MS. */
#define FS_S3_BACKOFF_BASE_MS 100
#define FS_S3_BACKOFF_MAX_MS 2000

/* Connecting to S3 (TCP and TLS): a region's endpoint answers in tens of
 * milliseconds; past this it is unreachable and the attempt is retried. */
#define FS_S3_CONNECT_TIMEOUT_MS 3000

/* One whole request of a small object (a receipt's PUT or GET, HEAD, a
 * LIST page, DELETE): S3's own first-byte latency is 100-200 ms at its
 * worst percentiles; 10 s is a store in trouble, retried. */
#define FS_S3_REQUEST_TIMEOUT_MS 10000

/* A large transfer (an export's upload or download) has no total timeout:
 * it is given up when slower than FS_S3_LOW_SPEED_BYTES_S for
 * FS_S3_LOW_SPEED_S seconds (a stalled connection), whatever its size. */
#define FS_S3_LOW_SPEED_BYTES_S 1024
#define FS_S3_LOW_SPEED_S 30

/* The largest object the streaming writer uploads: S3's limit for a single
 * PUT (5 GiB; larger needs a multipart upload, which the writer does not
 * make). An export's CSV is far below it. */
#define FS_S3_PUT_BYTES_MAX (5LL * 1024 * 1024 * 1024)

/* One ListObjectsV2 answer read into memory: 1,000 keys (S3's page) of up
 * to FS_OBJECT_KEY_LEN_MAX bytes each and their XML are under 1 MiB; more
 * is not S3 and is refused. */
#define FS_S3_LIST_PAGE_BYTES_MAX (4 * 1024 * 1024)

/* Pages one list reads: 10,000 pages of 1,000 keys; a prefix with more
 * objects than that is an operator's error, not something to page forever. */
#define FS_S3_LIST_PAGES_MAX 10000

/* PUTs of one fs_objects_put_many in flight at once on an object I/O
 * thread (a curl multi handle, a connection each): a PUT to S3 is a round
 * trip of 10-50 ms whatever its size, so a round of 250 receipts one after
 * another would take seconds; 16 at a time take a 16th of that, and 16
 * connections per thread (2 receipt writers: 32) is well under what S3
 * allows a client. */
#define FS_S3_PUT_PARALLEL 16

/* An S3 error answer's body kept for the log (its <Code> and <Message>). */
#define FS_S3_ERROR_BODY_MAX 4096

/* --- reads on the replica (issue 14) --- */

/* The staleness bound of the reads FINSYS_DATABASE_READ_URL sends to a
 * replica: a list shows every write committed more than this before the
 * request reached the server (docs/operations.md "Reads on the replica").
 * A second: a person who pays and then opens a list sees the payment (their
 * own writes go to the primary anyway), and a replica a second behind is
 * one in trouble, whose reads the primary then takes. */
#define FS_READ_REPLICA_LAG_MAX_MS 1000

/* How often each server process asks the primary for its WAL position
 * (pg_current_wal_insert_lsn(), on a connection of its own): a replica must
 * have replayed a position sampled at most FS_READ_REPLICA_LAG_MAX_MS before
 * the request, so it may lag by up to the bound less this period and still
 * serve reads. A tenth of the bound: ten cheap queries a second a process. */
#define FS_READ_REPLICA_SAMPLE_MS 100

/* The primary's positions kept (one per sample): those of the last bound,
 * and room to spare (the bound over the period is 10). */
#define FS_READ_REPLICA_SAMPLES_MAX 32

/* connect_timeout of the sampling connection: the sampler is a thread of
 * its own, so a primary that does not answer holds up only the samples (and
 * without a recent one reads go to the primary). */
#define FS_READ_REPLICA_CONNECT_TIMEOUT_S 2

/* Tenants whose recent writes this process remembers (read-your-writes:
 * their reads go to the primary until a sample taken after the write has
 * been replayed). An entry is free again FS_READ_REPLICA_LAG_MAX_MS after
 * its write; when every entry is taken, the write is remembered for every
 * tenant at once (all reads go to the primary for a moment), never lost. */
#define FS_READ_WRITERS_MAX 1024

/* --- the event log's archive (issue 15) --- */

/* How often the worker's archive job runs (FINSYS_ARCHIVE_INTERVAL_S
 * overrides, for tests and drills): hourly. A run archives at most one closed
 * day per tenant, so a tenant whose days are behind (the first run on an old
 * log, a worker down for days) catches up at 24 days a day; a run with
 * nothing to do costs one small query per tenant. */
#define FS_ARCHIVE_INTERVAL_S 3600
#define FS_ARCHIVE_INTERVAL_S_MIN 1
#define FS_ARCHIVE_INTERVAL_S_MAX (24 * 3600)

/* A UTC day is closed, and may be archived, this long after it ended: a
 * transaction that began before midnight writes its events with its start
 * time (now()), so a day's last events can commit after the day ended. The
 * server's statement and idle-in-transaction timeouts end any transaction
 * far sooner than an hour. */
#define FS_ARCHIVE_CLOSE_GRACE_S 3600

/* One archive (a tenant's day) holds at most this many events; a larger day
 * is refused with an error naming this limit, and left in PostgreSQL. The
 * archive and its check stream (one fetch of FS_ARCHIVE_FETCH_ROWS rows at a
 * time in memory: 11 MB of RSS measured for a 66,666-event day), so the
 * bound is time: about 7,000 events/s were measured both ways on this
 * 2-core machine under a load average of 14 (most of it PostgreSQL building
 * each event's JSON), so the largest day takes minutes, not hours. */
#define FS_ARCHIVE_ROWS_MAX 2000000

/* And at most this many compressed bytes (25 a event measured on uniform
 * test payments, 470 bytes of JSON each; real ones compress less, say 100:
 * 2,000,000 events take about 200 MB): a larger object is refused as the
 * rows are. It bounds what one object costs the store and a reader. */
#define FS_ARCHIVE_BYTES_MAX (512L * 1024 * 1024)

/* Rows fetched from the day's cursor at a time, and the bytes of a line the
 * check reads back (an event's JSON: a payment or a refund with its
 * metadata, well under 64 KiB). */
#define FS_ARCHIVE_FETCH_ROWS 2000
#define FS_ARCHIVE_LINE_BYTES_MAX (256 * 1024)

/* Tenants one run looks at, those whose archives are furthest behind first:
 * a run's one-day-each pass over them stays minutes, not hours. */
#define FS_ARCHIVE_TENANTS_PER_RUN_MAX 1000

/* The archive job's lock, job:archive: its lease, extended while it works
 * (every lease / FS_LOCK_EXTEND_DIVISOR, checked between days and between
 * fetches of a day's rows): long enough that a stalled fetch does not lose
 * it, short enough that a dead worker's lock frees within a minute. */
#define FS_ARCHIVE_LEASE_MS 60000

/* FINSYS_EVENTS_RETENTION_DAYS: events older than this many days may be
 * dropped from PostgreSQL once their day is archived and verified (0: off,
 * the default). At least 2: yesterday is not closed (FS_ARCHIVE_CLOSE_GRACE_S)
 * nor its webhooks final (retries run for hours) before then. At most 10
 * years. */
#define FS_EVENTS_RETENTION_DAYS_MIN 2
#define FS_EVENTS_RETENTION_DAYS_MAX 3660

/* The archive's format version, in its manifest: a reader that does not know
 * it refuses the archive. */
#define FS_ARCHIVE_FORMAT_VERSION 1

#endif
