import { z } from 'zod'
import administrativeGender from './administrative-gender.json' with { type: 'json' }
import conditionClinicalStatus from './condition-clinical-status.json' with { type: 'json' }
import conditionVerificationStatus from './condition-verification-status.json' with { type: 'json' }

/** One code of a value set. */
export interface ValueSetCode {
  system: string
  code: string
  display: string
}

/** A value set as the registry serves it: a fixed list of codes with their displays. */
export interface ValueSet {
  /** Stable id in the API's paths, such as `condition-clinical-status`. */
  id: string
  title: string
  description: string
  codes: readonly ValueSetCode[]
}

const valueSetFileSchema = z.object({
  id: z.string().regex(/^[a-z0-9]+(-[a-z0-9]+)*$/),
  title: z.string().min(1),
  description: z.string().min(1),
  url: z.url(),
  codes: z
    .array(z.object({ system: z.url(), code: z.string().min(1), display: z.string().min(1) }))
    .min(1),
})

/**
 * Checks the shape of a value set file bundled under `src/reference/`. A bad file is a defect of
 * the build, so it throws at import time with the file and every problem.
 */
export function parseValueSetFile(content: unknown, file: string): ValueSet {
  const parsed = valueSetFileSchema.safeParse(content)
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (issue) => `${issue.path.join('.') || '(top level)'}: ${issue.message}`,
    )
    throw new Error(`Value set file ${file} is invalid: ${problems.join('; ')}`)
  }

  const { id, title, description, codes } = parsed.data
  return { id, title, description, codes }
}

/** FHIR R4 administrative gender, the codes of `Patient.gender`. */
export const ADMINISTRATIVE_GENDER_VALUE_SET = parseValueSetFile(
  administrativeGender,
  'administrative-gender.json',
)

/** FHIR R4 condition clinical status, the codes of `Condition.clinicalStatus`. */
export const CLINICAL_STATUS_VALUE_SET = parseValueSetFile(
  conditionClinicalStatus,
  'condition-clinical-status.json',
)

/** FHIR R4 condition verification status, the codes of `Condition.verificationStatus`. */
export const VERIFICATION_STATUS_VALUE_SET = parseValueSetFile(
  conditionVerificationStatus,
  'condition-verification-status.json',
)

/** The value sets that the registry ships as they are, next to the configurable neurological one. */
export const FIXED_VALUE_SETS: readonly ValueSet[] = [
  ADMINISTRATIVE_GENDER_VALUE_SET,
  CLINICAL_STATUS_VALUE_SET,
  VERIFICATION_STATUS_VALUE_SET,
]

/** Returns the codes of a value set in the non-empty tuple form that `z.enum` takes. */
export function codesOf(valueSet: ValueSet): readonly [string, ...string[]] {
  const [first, ...rest] = valueSet.codes.map((entry) => entry.code)
  if (first === undefined) throw new Error(`Value set ${valueSet.id} has no codes`)
  return [first, ...rest]
}
