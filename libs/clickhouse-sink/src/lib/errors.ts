/**
 * Error types of the sink and the retry classification.
 *
 * ClickHouse 18.16 formats exceptions as
 *   `Code: 60, e.displayText() = DB::Exception: Table x doesn't exist., e.what() = DB::Exception`
 * which the official client's parser does not recognise (it expects the newer
 * `Code: 60. DB::Exception: ... (UNKNOWN_TABLE)` form), so such errors arrive
 * as plain `Error`s without `code`. {@link clickHouseErrorCode} reads the code
 * from either form.
 */

/** Base class of every error this library throws on purpose. */
export class ClickHouseSinkError extends Error {
  /** ClickHouse exception code when the server reported one. */
  readonly clickhouseCode: number | undefined;

  constructor(message: string, options?: { cause?: unknown; clickhouseCode?: number }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.clickhouseCode = options?.clickhouseCode;
  }
}

/**
 * A failure that retrying cannot fix: schema mismatch (unknown table/column,
 * type or parse errors), bad SQL, authentication or permissions. The write did
 * not happen; the caller must not treat its rows as stored.
 */
export class NonRetryableClickHouseError extends ClickHouseSinkError {}

/** Retrying stopped because maxAttempts or the deadline was reached. */
export class RetriesExhaustedError extends ClickHouseSinkError {
  constructor(
    message: string,
    readonly attempts: number,
    readonly lastError: unknown,
  ) {
    super(message, { cause: lastError, clickhouseCode: clickHouseErrorCode(lastError) });
  }
}

/** Retrying stopped because the caller's AbortSignal fired (e.g. shutdown). */
export class WriteAbortedError extends ClickHouseSinkError {
  constructor(
    message: string,
    readonly attempts: number,
    readonly lastError: unknown,
  ) {
    super(message, { cause: lastError });
  }
}

/**
 * An insert was not acknowledged by the configured number of replicas
 * (`insert_quorum`), and the configuration says not to write without it.
 * Retryable: the rows may be on some replicas; writing them again is harmless.
 */
export class QuorumNotReachedError extends ClickHouseSinkError {
  constructor(
    readonly table: string,
    readonly quorum: number,
    cause: unknown,
  ) {
    super(
      `Insert into ${table} was not acknowledged by ${quorum} replicas (insert_quorum=${quorum}): ${errorMessage(cause).split('\n')[0]}. ` +
        'It is retried until enough replicas are up; with onQuorumLoss "degrade" (CLICKHOUSE_ON_QUORUM_LOSS=degrade) the replica in use acknowledges it alone.',
      { cause, clickhouseCode: clickHouseErrorCode(cause) },
    );
  }
}

/**
 * A replica that has not yet fetched every part the replication log announces
 * (it just came back, or the only other copy is on a replica that is down). It
 * is not used until it has: a read there could miss an acknowledged insert.
 */
export class ReplicaNotCaughtUpError extends ClickHouseSinkError {
  constructor(
    readonly url: string,
    readonly table: string,
    cause: unknown,
  ) {
    super(`Replica ${url} has not caught up with the replication log of ${table} yet: ${errorMessage(cause).split('\n')[0]}`, { cause });
  }
}

/** A row handed to the writer cannot be represented in the table (caller bug). */
export class RowValidationError extends ClickHouseSinkError {}

/** A millisecond timestamp argument of a SQL builder: a safe non-negative integer, returned as it is (RowValidationError otherwise). */
export function epochMsArgument(name: string, v: number): number {
  if (!Number.isSafeInteger(v) || v < 0) throw new RowValidationError(`${name} must be an epoch millisecond value, got ${v}`);
  return v;
}

/** An applied migration file was edited afterwards. */
export class MigrationChecksumError extends ClickHouseSinkError {
  constructor(
    readonly file: string,
    readonly recordedChecksum: string,
    readonly currentChecksum: string,
  ) {
    super(
      `Migration ${file} was already applied with checksum ${recordedChecksum}, but the file now has checksum ` +
        `${currentChecksum}. Applied migration files are immutable: revert the edit and add a new file instead.`,
    );
  }
}

/** A migration statement failed. */
export class MigrationError extends ClickHouseSinkError {
  constructor(
    readonly file: string,
    readonly statementIndex: number,
    cause: unknown,
  ) {
    super(
      `Migration ${file} failed at statement ${statementIndex + 1}: ${errorMessage(cause)}`,
      { cause, clickhouseCode: clickHouseErrorCode(cause) },
    );
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

const CODE_RE = /(?:^|\s|\b)Code:\s*(\d+)[.,]/;

/**
 * The ClickHouse exception code of an error, from the official client's
 * ClickHouseError (`code` is a numeric string) or from the message text
 * (both the 18.x and the current formats).
 */
export function clickHouseErrorCode(err: unknown): number | undefined {
  if (err instanceof ClickHouseSinkError) return err.clickhouseCode;
  if (typeof err !== 'object' || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && /^\d+$/.test(code)) return Number(code);
  const message = (err as { message?: unknown }).message;
  if (typeof message === 'string') {
    const m = CODE_RE.exec(message);
    if (m) return Number(m[1]);
  }
  return undefined;
}

/**
 * ClickHouse codes that describe a permanent problem with the request itself:
 * schema mismatch, malformed data, bad SQL, authentication, permissions.
 * Every other server error (too many parts, memory limit, timeouts, network,
 * read-only replica, ...) is treated as transient.
 */
export const NON_RETRYABLE_CLICKHOUSE_CODES: ReadonlySet<number> = new Set([
  6, // CANNOT_PARSE_TEXT
  16, // NO_SUCH_COLUMN_IN_TABLE
  20, // NUMBER_OF_COLUMNS_DOESNT_MATCH
  26, // CANNOT_PARSE_QUOTED_STRING
  27, // CANNOT_PARSE_INPUT_ASSERTION_FAILED
  36, // BAD_ARGUMENTS
  38, // CANNOT_PARSE_DATE
  41, // CANNOT_PARSE_DATETIME
  43, // ILLEGAL_TYPE_OF_ARGUMENT
  44, // ILLEGAL_COLUMN
  46, // UNKNOWN_FUNCTION
  47, // UNKNOWN_IDENTIFIER
  48, // NOT_IMPLEMENTED
  53, // TYPE_MISMATCH
  60, // UNKNOWN_TABLE
  62, // SYNTAX_ERROR
  69, // ARGUMENT_OUT_OF_BOUND
  70, // CANNOT_CONVERT_TYPE
  72, // CANNOT_PARSE_NUMBER
  73, // UNKNOWN_FORMAT
  81, // UNKNOWN_DATABASE
  115, // UNKNOWN_SETTING
  117, // INCORRECT_DATA
  130, // CANNOT_READ_ARRAY_FROM_TEXT
  164, // READONLY (user profile, not a replica state)
  192, // UNKNOWN_USER
  193, // WRONG_PASSWORD
  194, // REQUIRED_PASSWORD
  195, // IP_ADDRESS_NOT_ALLOWED
  215, // NOT_AN_AGGREGATE
  291, // DATABASE_ACCESS_DENIED
  349, // CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN
  497, // ACCESS_DENIED
  516, // AUTHENTICATION_FAILED
]);

const NETWORK_ERROR_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'ESOCKETTIMEDOUT',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

/** True for connection-level failures (refused, reset, timeout, DNS). */
export function isConnectionError(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && NETWORK_ERROR_CODES.has(code)) return true;
  const message = (err as { message?: unknown }).message;
  if (typeof message === 'string' && /socket hang up|Timeout error|other side closed|ECONNRE(SET|FUSED)/i.test(message)) {
    return true;
  }
  const cause = (err as { cause?: unknown }).cause;
  return cause !== undefined && cause !== err && isConnectionError(cause);
}

/**
 * Whether a failed request may succeed when repeated unchanged. Connection
 * errors, timeouts and server errors outside {@link NON_RETRYABLE_CLICKHOUSE_CODES}
 * are retryable; so is anything unrecognised that is not a JavaScript
 * programming error (an HTTP 502/503 page from a proxy, for instance).
 */
export function isRetryableError(err: unknown): boolean {
  if (err instanceof RowValidationError || err instanceof NonRetryableClickHouseError) return false;
  if (err instanceof MigrationChecksumError) return false;
  if (isConnectionError(err)) return true;
  const code = clickHouseErrorCode(err);
  if (code !== undefined) return !NON_RETRYABLE_CLICKHOUSE_CODES.has(code);
  if (err instanceof TypeError || err instanceof RangeError || err instanceof SyntaxError || err instanceof ReferenceError) {
    return false;
  }
  return true;
}

/**
 * Quorum not reachable: too few live replicas (285), the previous quorum
 * insert not yet on enough replicas (286), the quorum timeout (319 on 18.16,
 * 159 elsewhere), this replica not in the quorum (289).
 */
const QUORUM_ERROR_CODES: ReadonlySet<number> = new Set([285, 286, 289, 319, 159]);

export function isQuorumError(err: unknown): boolean {
  const code = clickHouseErrorCode(err);
  return code !== undefined && QUORUM_ERROR_CODES.has(code);
}

/**
 * The endpoint cannot serve, another one may: no connection, the replica is
 * read-only (242: it lost ZooKeeper), no ZooKeeper (225) or a coordination
 * error (999), or it has not caught up yet.
 */
const REPLICA_UNAVAILABLE_CODES: ReadonlySet<number> = new Set([242, 225, 999]);

export function isFailoverError(err: unknown): boolean {
  if (err instanceof ReplicaNotCaughtUpError) return true;
  if (isConnectionError(err)) return true;
  const code = clickHouseErrorCode(err);
  return code !== undefined && REPLICA_UNAVAILABLE_CODES.has(code);
}
