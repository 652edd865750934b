import type { FieldError } from '../platform/errors.ts'
import { ICD_10_CM, SNOMED_CT } from './constants.ts'
import type { NeurologyValueSet } from './neurology-value-set.ts'

/** The part of the neurological value set that code checks need: its ICD-10-CM chapter G list. */
export type ChapterGCodeList = Pick<NeurologyValueSet, 'isUnlistedChapterGCode'>

// Verhoeff tables: SNOMED CT identifiers end in a Verhoeff check digit.
const VERHOEFF_MULTIPLY = [
  [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
  [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
  [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
  [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
  [4, 0, 1, 2, 3, 9, 5, 6, 7, 8],
  [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
  [6, 5, 9, 8, 7, 1, 0, 4, 3, 2],
  [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
  [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
  [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
]
const VERHOEFF_PERMUTE = [
  [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
  [1, 5, 7, 6, 2, 8, 3, 0, 9, 4],
  [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
  [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
  [9, 4, 5, 3, 1, 2, 6, 8, 7, 0],
  [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
  [2, 7, 9, 3, 8, 0, 6, 4, 1, 5],
  [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
]

/** True for a well-formed SNOMED CT concept id: 6 to 18 digits whose Verhoeff check holds. */
export function isValidSnomedId(code: string): boolean {
  if (!/^[1-9]\d{5,17}$/.test(code)) return false
  let check = 0
  for (let position = 0; position < code.length; position++) {
    const digit = Number(code.charAt(code.length - 1 - position))
    const permuted = VERHOEFF_PERMUTE[position % 8]?.[digit] ?? 0
    check = VERHOEFF_MULTIPLY[check]?.[permuted] ?? 0
  }
  return check === 0
}

/**
 * True for an ICD-10-CM code written with its dot, such as `G40.909` or `G35`. Chapter U is in
 * ICD-10-CM since April 2020 (U07.1 COVID-19, U09.9 post COVID-19 condition).
 */
export function isValidIcd10CmCode(code: string): boolean {
  return /^[A-Z]\d[0-9AB](\.[0-9A-TV-Z]{1,4})?$/.test(code)
}

/**
 * Checks a Condition's codings as the API receives them: at least one SNOMED CT or ICD-10-CM
 * coding, every coding of those two systems well formed, and every ICD-10-CM chapter G code in
 * `chapterG`. Codes outside the neurological value set pass, such as SNOMED CT hypertension or
 * ICD-10-CM I10, because the registry also keeps the other conditions of its patients. Codings
 * of other systems pass.
 */
export function validateConditionCodings(
  codings: readonly { system?: string; code?: string }[],
  path: string,
  chapterG: ChapterGCodeList,
): FieldError[] {
  const errors: FieldError[] = []
  for (const [index, coding] of codings.entries()) {
    const code = coding.code ?? ''
    if (coding.system === SNOMED_CT && !isValidSnomedId(code)) {
      errors.push({
        path: `${path}.${index}.code`,
        message: `${coding.code ?? '(missing)'} is not a valid SNOMED CT concept id`,
      })
    }
    if (coding.system === ICD_10_CM && !isValidIcd10CmCode(code)) {
      errors.push({
        path: `${path}.${index}.code`,
        message: `${coding.code ?? '(missing)'} is not a valid ICD-10-CM code`,
      })
    } else if (coding.system === ICD_10_CM && chapterG.isUnlistedChapterGCode(code)) {
      errors.push({
        path: `${path}.${index}.code`,
        message: `${code} is not an ICD-10-CM chapter G code in the registry's value set; pick one from GET /value-sets/neurological-conditions/codes`,
      })
    }
  }
  if (!codings.some((coding) => coding.system === SNOMED_CT || coding.system === ICD_10_CM)) {
    errors.push({ path, message: `Needs at least one coding from ${SNOMED_CT} or ${ICD_10_CM}` })
  }
  return errors
}
