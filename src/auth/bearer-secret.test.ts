import { describe, expect, it } from 'vitest'
import { BearerSecret } from './bearer-secret.ts'

describe('BearerSecret', () => {
  const secret = new BearerSecret('a-shared-secret-of-some-length')

  it('matches the secret as a bearer token', () => {
    expect(secret.matches('Bearer a-shared-secret-of-some-length')).toBe(true)
  })

  it('matches the scheme name in any case', () => {
    expect(secret.matches('bearer a-shared-secret-of-some-length')).toBe(true)
  })

  it('rejects another value', () => {
    expect(secret.matches('Bearer a-shared-secret-of-some-lengthX')).toBe(false)
  })

  it('rejects a missing header', () => {
    expect(secret.matches(undefined)).toBe(false)
  })

  it('rejects the secret without the scheme', () => {
    expect(secret.matches('a-shared-secret-of-some-length')).toBe(false)
  })
})
