/**
 * Creates a registry user from the command line, such as the first admin of a new registry.
 *
 *   npm run user:create -- --username NAME --role ROLE [--role ROLE...]
 *
 * The password comes from NEW_USER_PASSWORD, or is read from stdin: typed at a hidden prompt on
 * a terminal, or piped as the first line. It never appears in the arguments, where other users
 * of the machine could read it. Exit codes: 0 created, 1 failed, 2 invalid input or
 * configuration.
 */
import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'
import { createRegistry } from '../src/app.ts'
import { ROLES } from '../src/auth/access.ts'
import { createUserSchema } from '../src/auth/auth.schemas.ts'
import { SYSTEM_ACTOR } from '../src/auth/user.service.ts'
import { ConfigError, loadConfig } from '../src/platform/config.ts'
import { AppError } from '../src/platform/errors.ts'
import { createLogger } from '../src/platform/logger.ts'

const USAGE = `Usage: npm run user:create -- --username NAME --role ROLE [--role ROLE...]

  --username  3 to 64 letters, digits and . _ @ -; sign-in ignores its letter case.
  --role      ${ROLES.join(', ')}; repeat for several roles.

The password (12 to 256 characters) comes from NEW_USER_PASSWORD or from stdin.
Configuration comes from the environment, as for the registry (DATABASE_URL, DATABASE_SCHEMA...).
`

function fail(message: string, exitCode: number): never {
  process.stderr.write(`${message}\n`)
  process.exit(exitCode)
}

/** Reads the first line piped to stdin. */
async function readPipedLine(): Promise<string> {
  const lines = createInterface({ input: process.stdin, terminal: false })
  try {
    for await (const line of lines) return line
    return ''
  } finally {
    lines.close()
  }
}

/** Reads a password typed at a terminal in raw mode, so the characters are not echoed. */
function readHiddenLine(prompt: string): Promise<string> {
  process.stderr.write(prompt)
  process.stdin.setRawMode(true)
  process.stdin.resume()
  return new Promise((resolve) => {
    let typed = ''
    const onData = (chunk: Buffer) => {
      for (const character of chunk.toString('utf8')) {
        if (character === '\u0003') {
          process.stdin.setRawMode(false)
          process.stderr.write('\n')
          process.exit(130)
        }
        if (character === '\r' || character === '\n') {
          process.stdin.off('data', onData)
          process.stdin.setRawMode(false)
          process.stdin.pause()
          process.stderr.write('\n')
          resolve(typed)
          return
        }
        typed = character === '\u007f' ? typed.slice(0, -1) : typed + character
      }
    }
    process.stdin.on('data', onData)
  })
}

async function main(): Promise<void> {
  let values: { username?: string; role?: string[]; help?: boolean }
  try {
    ;({ values } = parseArgs({
      options: {
        username: { type: 'string' },
        role: { type: 'string', multiple: true },
        help: { type: 'boolean', default: false },
      },
    }))
  } catch (error) {
    fail(`${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`, 2)
  }
  if (values.help) {
    process.stdout.write(USAGE)
    return
  }

  const password =
    process.env.NEW_USER_PASSWORD ??
    (process.stdin.isTTY ? await readHiddenLine('Password: ') : await readPipedLine())
  const input = createUserSchema.safeParse({
    username: values.username,
    password,
    roles: values.role ?? [],
  })
  if (!input.success) {
    const problems = input.error.issues.map(
      (issue) => `  ${issue.path.join('.') || 'input'}: ${issue.message}`,
    )
    fail(`Invalid input:\n${problems.join('\n')}\n\n${USAGE}`, 2)
  }

  let config
  try {
    config = loadConfig()
  } catch (error) {
    if (error instanceof ConfigError) fail(error.message, 2)
    throw error
  }
  const logger = createLogger('warn', { service: 'brain-registry', command: 'user:create' })
  const registry = await createRegistry(config, { logger })
  try {
    const user = await registry.users.create(input.data, { actor: SYSTEM_ACTOR, requestId: null })
    process.stdout.write(
      `Created user ${user.username} (${user.id}) with roles ${user.roles.join(', ')}\n`,
    )
  } catch (error) {
    if (error instanceof AppError && error.status < 500) fail(error.message, 2)
    throw error
  } finally {
    await registry.stop()
  }
}

main().catch((error: unknown) => {
  fail(`Creating the user failed: ${error instanceof Error ? error.message : String(error)}`, 1)
})
