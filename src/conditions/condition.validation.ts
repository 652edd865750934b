import { validateConditionCodings, type ChapterGCodeList } from '../fhir/code-validation.ts'
import { CONDITION_CLINICAL_STATUS, CONDITION_VERIFICATION_STATUS } from '../fhir/constants.ts'
import type { FieldError } from '../platform/errors.ts'
import {
  CLINICAL_STATUSES,
  VERIFICATION_STATUSES,
  type ConditionFields,
} from './condition.schemas.ts'

/** Clinical statuses that FHIR R4 allows on a condition with an abatement (invariant con-4). */
const ABATED_CLINICAL_STATUSES: readonly string[] = ['inactive', 'resolved', 'remission']

/**
 * Checks a whole set of condition fields as an API write must have them: a SNOMED CT or
 * ICD-10-CM coding in a valid form, any ICD-10-CM chapter G code in `chapterG`, and the FHIR R4
 * status invariants con-4 and con-5. Returns one error per broken rule, or none.
 */
export function validateConditionFields(
  fields: ConditionFields,
  chapterG: ChapterGCodeList,
): FieldError[] {
  return [...validateConditionCode(fields, chapterG), ...validateConditionStatuses(fields)]
}

/** Checks the codings of a condition's code; see `validateConditionCodings`. */
export function validateConditionCode(
  fields: Pick<ConditionFields, 'code'>,
  chapterG: ChapterGCodeList,
): FieldError[] {
  return validateConditionCodings(fields.code.coding ?? [], 'code.coding', chapterG)
}

/**
 * Lists the codes of stored condition fields that an API write would reject: statuses outside
 * their value sets and the code's failed checks. Conditions from FHIR are not checked but stored
 * as they came, so the API shows these flags instead of dropping anything.
 */
export function findCodeFlags(fields: ConditionFields, chapterG: ChapterGCodeList): FieldError[] {
  return [
    ...flagStatus(
      'clinicalStatus',
      fields.clinicalStatus,
      CLINICAL_STATUSES,
      CONDITION_CLINICAL_STATUS,
    ),
    ...flagStatus(
      'verificationStatus',
      fields.verificationStatus,
      VERIFICATION_STATUSES,
      CONDITION_VERIFICATION_STATUS,
    ),
    ...validateConditionCode(fields, chapterG),
  ]
}

function flagStatus(
  path: string,
  status: string | null,
  allowed: readonly string[],
  system: string,
): FieldError[] {
  if (status === null || allowed.includes(status)) return []
  return [{ path, message: `${status} is not a code of ${system}` }]
}

/** Checks the FHIR R4 Condition invariants on the statuses that the API can break. */
export function validateConditionStatuses(fields: ConditionFields): FieldError[] {
  const errors: FieldError[] = []
  // con-5: an entry made in error has no clinical status.
  if (fields.verificationStatus === 'entered-in-error' && fields.clinicalStatus !== null) {
    errors.push({
      path: 'clinicalStatus',
      message: 'Must be empty when verificationStatus is entered-in-error',
    })
  }
  // con-4: an abated condition is inactive, resolved or in remission.
  if (
    fields.abatement !== null &&
    fields.clinicalStatus !== null &&
    !ABATED_CLINICAL_STATUSES.includes(fields.clinicalStatus)
  ) {
    errors.push({
      path: 'clinicalStatus',
      message: 'Must be inactive, resolved or remission when an abatement is given',
    })
  }
  return errors
}
