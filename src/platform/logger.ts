import { AsyncLocalStorage } from 'node:async_hooks'
import winston from 'winston'

export type LogFields = Record<string, unknown>

/** Fields of the job being handled, such as its id and queue. */
const jobFields = new AsyncLocalStorage<LogFields>()

/**
 * Runs `work` so that every line logged inside it carries `fields`, also from loggers built
 * before the job started, such as the merge's and the push's. A line's own fields and its child
 * logger's fields win over them.
 * NOTE: work that the job starts and that outlives it, such as a pool connection it opened,
 * keeps these fields in its later lines.
 */
export function withJobLogFields<T>(fields: LogFields, work: () => Promise<T>): Promise<T> {
  return jobFields.run(fields, work)
}

const addJobFields = winston.format((info) => {
  const fields = jobFields.getStore() ?? {}
  for (const [key, value] of Object.entries(fields)) {
    if (!(key in info)) info[key] = value
  }
  return info
})

/** Structured logger: the message is a fixed event name and the values go in fields. */
export interface Logger {
  error(event: string, fields?: LogFields): void
  warn(event: string, fields?: LogFields): void
  info(event: string, fields?: LogFields): void
  debug(event: string, fields?: LogFields): void
  child(fields: LogFields): Logger
}

class WinstonLogger implements Logger {
  readonly #inner: winston.Logger

  constructor(inner: winston.Logger) {
    this.#inner = inner
  }

  error(event: string, fields?: LogFields): void {
    this.#inner.error(event, fields)
  }

  warn(event: string, fields?: LogFields): void {
    this.#inner.warn(event, fields)
  }

  info(event: string, fields?: LogFields): void {
    this.#inner.info(event, fields)
  }

  debug(event: string, fields?: LogFields): void {
    this.#inner.debug(event, fields)
  }

  child(fields: LogFields): Logger {
    return new WinstonLogger(this.#inner.child(fields))
  }
}

/**
 * Creates the process logger: one JSON line per event on stdout, or on `stream` when given (tests
 * read the lines back from one).
 */
export function createLogger(
  level: string,
  defaultFields: LogFields = {},
  stream?: NodeJS.WritableStream,
): Logger {
  const transport = stream
    ? new winston.transports.Stream({ stream })
    : new winston.transports.Console()
  const inner = winston.createLogger({
    level,
    defaultMeta: defaultFields,
    format: winston.format.combine(
      addJobFields(),
      winston.format.timestamp(),
      winston.format.errors({ stack: true }),
      winston.format.json(),
    ),
    // winston's transports are typed against a second copy of winston-transport's class.
    // eslint-disable-next-line @typescript-eslint/no-unsafe-class-instance-assignment
    transports: [transport],
  })
  return new WinstonLogger(inner)
}

/** Turns a caught value into loggable fields without leaking request or resource bodies. */
export function errorFields(error: unknown): LogFields {
  if (error instanceof Error) {
    return { error: error.message, errorName: error.name, stack: error.stack }
  }
  return { error: String(error) }
}
