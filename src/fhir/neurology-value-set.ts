import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Coding } from '@medplum/fhirtypes'
import { z } from 'zod'
import { ICD_10_CM, SNOMED_CT } from './constants.ts'

export const DEFAULT_VALUE_SET_PATH = join(
  import.meta.dirname,
  '..',
  'reference',
  'neurology-value-set.json',
)

const valueSetFileSchema = z.object({
  snomedCt: z.object({ concepts: z.record(z.string().regex(/^\d{6,18}$/), z.string()) }),
  icd10cm: z.object({ prefixes: z.array(z.string().regex(/^[A-Z][0-9A-Z.]*$/)) }),
})

/** The registry's neurological value set: decides which Conditions enrol a patient. */
export class NeurologyValueSet {
  readonly #snomedCodes: ReadonlySet<string>
  readonly #icdPrefixes: readonly string[]

  constructor(snomedCodes: Iterable<string>, icdPrefixes: readonly string[]) {
    this.#snomedCodes = new Set(snomedCodes)
    this.#icdPrefixes = icdPrefixes
  }

  /** Loads the value set from a JSON file shaped like `src/reference/neurology-value-set.json`. */
  static fromFile(path: string = DEFAULT_VALUE_SET_PATH): NeurologyValueSet {
    const parsed = valueSetFileSchema.parse(JSON.parse(readFileSync(path, 'utf8')))
    return new NeurologyValueSet(Object.keys(parsed.snomedCt.concepts), parsed.icd10cm.prefixes)
  }

  contains(coding: Pick<Coding, 'system' | 'code'>): boolean {
    const code = coding.code?.trim()
    if (!code) return false
    if (coding.system === SNOMED_CT) return this.#snomedCodes.has(code)
    if (coding.system === ICD_10_CM) {
      const upper = code.toUpperCase()
      return this.#icdPrefixes.some((prefix) => upper.startsWith(prefix))
    }
    return false
  }

  /** True when any of the codings is in the value set. */
  containsAny(codings: readonly Pick<Coding, 'system' | 'code'>[] | undefined): boolean {
    return (codings ?? []).some((coding) => this.contains(coding))
  }
}
