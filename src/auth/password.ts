import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto'

/**
 * scrypt cost: N = 2^15, r = 8, p = 3 needs 32 MiB per hash and is one of the settings OWASP's
 * password storage guidance gives as equivalent to its N = 2^17, p = 1 minimum. The parameters
 * are stored with each hash, so raising them later leaves older hashes verifiable.
 */
const COST = { N: 2 ** 15, r: 8, p: 3 } as const
const KEY_BYTES = 32
const SALT_BYTES = 16
/** Node's default scrypt memory cap is 32 MiB, which 128 * N * r exactly reaches. */
const MAX_MEMORY_BYTES = 64 * 1024 * 1024

const HASH_FORMAT = /^scrypt\$(\d+)\$(\d+)\$(\d+)\$([A-Za-z0-9_-]+)\$([A-Za-z0-9_-]+)$/

function derive(password: string, salt: Buffer, options: ScryptOptions & { keylen: number }) {
  return new Promise<Buffer>((resolve, reject) => {
    scrypt(password.normalize('NFC'), salt, options.keylen, options, (error, key) => {
      if (error) reject(error)
      else resolve(key)
    })
  })
}

/** Hashes a password with scrypt and a random salt, as `scrypt$N$r$p$salt$key` (base64url). */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES)
  const key = await derive(password, salt, {
    ...COST,
    keylen: KEY_BYTES,
    maxmem: MAX_MEMORY_BYTES,
  })
  return [
    'scrypt',
    COST.N,
    COST.r,
    COST.p,
    salt.toString('base64url'),
    key.toString('base64url'),
  ].join('$')
}

/**
 * Checks a password against a stored hash in constant time. A hash in an unknown format never
 * matches.
 */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const match = HASH_FORMAT.exec(stored)
  if (!match) return false
  const [, n, r, p, salt, key] = match
  const expected = Buffer.from(key ?? '', 'base64url')
  const actual = await derive(password, Buffer.from(salt ?? '', 'base64url'), {
    N: Number(n),
    r: Number(r),
    p: Number(p),
    keylen: expected.length,
    maxmem: MAX_MEMORY_BYTES * 4,
  })
  return actual.length === expected.length && timingSafeEqual(actual, expected)
}

let decoyHash: Promise<string> | undefined

/**
 * Returns the hash of a random password, to check when a sign-in names an unknown user. That
 * costs the same time as a real check, so response times do not tell which usernames exist.
 */
export function decoyPasswordHash(): Promise<string> {
  decoyHash ??= hashPassword(randomBytes(24).toString('base64url'))
  return decoyHash
}
