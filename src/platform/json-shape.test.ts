import { describe, expect, it } from 'vitest'
import { ValidationError } from './errors.ts'
import { MAX_JSON_DEPTH, MAX_JSON_STRING_LENGTH, assertStorableJson } from './json-shape.ts'

function nested(depth: number): unknown {
  let value: unknown = 'leaf'
  for (let level = 0; level < depth; level++) value = [value]
  return value
}

function failurePath(body: unknown): string | undefined {
  try {
    assertStorableJson(body)
  } catch (error) {
    if (error instanceof ValidationError) return error.fieldErrors[0]?.path
    throw error
  }
  return undefined
}

describe('assertStorableJson', () => {
  it('accepts a FHIR-shaped body', () => {
    expect(
      failurePath({ names: [{ family: 'Ordóñez', given: ['Bernardo'] }], birthDate: '1980' }),
    ).toBeUndefined()
  })

  it('accepts nesting up to the limit', () => {
    expect(failurePath(nested(MAX_JSON_DEPTH))).toBeUndefined()
  })

  it('rejects nesting past the limit', () => {
    expect(failurePath(nested(MAX_JSON_DEPTH + 1))).toBeDefined()
  })

  it('rejects very deep nesting without overflowing', () => {
    expect(failurePath(nested(200_000))).toBeDefined()
  })

  it('names the path of a lone surrogate', () => {
    expect(failurePath({ names: [{ family: 'a\ud800b' }] })).toBe('names.0.family')
  })

  it('rejects a lone surrogate in a key', () => {
    expect(failurePath({ ['\udc00']: 1 })).toBe('(body)')
  })

  it('rejects an overlong string', () => {
    expect(
      failurePath({ extension: [{ valueString: 'x'.repeat(MAX_JSON_STRING_LENGTH + 1) }] }),
    ).toBe('extension.0.valueString')
  })

  it('accepts a surrogate pair', () => {
    expect(failurePath({ text: '\ud83e\udde0' })).toBeUndefined()
  })
})
