import { validateConditionCodings } from '../fhir/code-validation.ts'
import type { FieldError } from '../platform/errors.ts'
import type { ConditionFields } from './condition.schemas.ts'

/** Clinical statuses that FHIR R4 allows on a condition with an abatement (invariant con-4). */
const ABATED_CLINICAL_STATUSES: readonly string[] = ['inactive', 'resolved', 'remission']

/**
 * Checks a whole set of condition fields as an API write must have them: a SNOMED CT or
 * ICD-10-CM coding in a valid form, and the FHIR R4 status invariants con-4 and con-5. Returns
 * one error per broken rule, or none.
 */
export function validateConditionFields(fields: ConditionFields): FieldError[] {
  return [...validateConditionCode(fields), ...validateConditionStatuses(fields)]
}

/** Checks the codings of a condition's code; see `validateConditionCodings`. */
export function validateConditionCode(fields: Pick<ConditionFields, 'code'>): FieldError[] {
  return validateConditionCodings(fields.code.coding ?? [], 'code.coding')
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
