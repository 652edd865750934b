import { describe, expect, it } from 'vitest'
import { hashPassword, verifyPassword } from './password.ts'

describe('password hashing', () => {
  it('verifies the password it hashed', async () => {
    const hash = await hashPassword('correct horse battery staple')

    expect(hash).toMatch(/^scrypt\$32768\$8\$3\$/)
    expect(await verifyPassword('correct horse battery staple', hash)).toBe(true)
  })

  it('rejects another password', async () => {
    const hash = await hashPassword('correct horse battery staple')

    expect(await verifyPassword('correct horse battery stapler', hash)).toBe(false)
  })

  it('salts each hash', async () => {
    const first = await hashPassword('same password here')
    const second = await hashPassword('same password here')

    expect(first).not.toBe(second)
  })

  it('treats composed and decomposed accents alike', async () => {
    const hash = await hashPassword('caf\u00e9 au lait 2026')

    expect(await verifyPassword('cafe\u0301 au lait 2026', hash)).toBe(true)
  })

  it('never matches a malformed hash', async () => {
    expect(await verifyPassword('anything at all', 'plaintext')).toBe(false)
    expect(await verifyPassword('anything at all', '')).toBe(false)
  })
})
