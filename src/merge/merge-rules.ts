import { ConfigError } from '../platform/config.ts'

/**
 * The rule by which the merge settles a field that both sides changed to different values since the sync base.
 * - `lww`: the later change wins, compared by the registry's per-field change time and FHIR's
 *   `meta.lastUpdated`. Changes closer together than the clock-skew window fall back to `manual`.
 * - `registry`: the registry owns the field. A FHIR change is reverted by the next push, even when
 *   the registry did not touch the field, and the reverted value goes to the audit log.
 * - `fhir`: FHIR wins when both sides changed the field. A change made only in the registry still
 *   goes to FHIR, so the hospital's record shows it.
 * - `manual`: the registry keeps its value, FHIR keeps its own, and a steward decides.
 */
export type MergeRule = 'lww' | 'registry' | 'fhir' | 'manual'

export const MERGE_RULE_NAMES: readonly MergeRule[] = ['lww', 'registry', 'fhir', 'manual']

export const PATIENT_MERGE_FIELDS = [
  'names',
  'birthDate',
  'gender',
  'identifiers',
  'registryIdentifier',
  'telecom',
  'addresses',
  'deceased',
] as const

export const CONDITION_MERGE_FIELDS = [
  'code',
  'clinicalStatus',
  'verificationStatus',
  'onset',
  'abatement',
  'recordedDate',
] as const

export type PatientMergeField = (typeof PATIENT_MERGE_FIELDS)[number]
export type ConditionMergeField = (typeof CONDITION_MERGE_FIELDS)[number]

export interface MergeRules {
  patient: Record<PatientMergeField, MergeRule>
  condition: Record<ConditionMergeField, MergeRule>
}

/**
 * The default rule of every mapped field. `identifiers` are the hospital's identifiers;
 * `registryIdentifier` is the one the registry issues, split out of the same FHIR element.
 */
export const DEFAULT_MERGE_RULES: MergeRules = Object.freeze({
  // TODO: registry-only patient fields (research consent, enrolment site) are not modelled yet;
  // once they are, they belong here with the `registry` rule.
  patient: Object.freeze({
    // Names are corrected on either side (spelling, a new family name); the later fix is kept.
    names: 'lww',
    // Two different birth dates mean a typo or the wrong person: a steward checks the documents.
    birthDate: 'manual',
    // Patients tell either side about a change; the later statement is kept.
    gender: 'lww',
    // Hospitals issue their own identifiers, so their version of an identifier holds.
    identifiers: 'fhir',
    // The registry issues it and finds the patient in FHIR by it; a FHIR change is put back.
    registryIdentifier: 'registry',
    // Contact details go stale; the one entered last is the most likely to be right.
    telecom: 'lww',
    addresses: 'lww',
    // A death recorded differently on each side must be confirmed by a person.
    deceased: 'manual',
  }),
  condition: Object.freeze({
    // The diagnosis is what the registry is about: two different recodings need a steward.
    code: 'manual',
    // The clinical status follows the course of the disease; the latest observation is current.
    clinicalStatus: 'lww',
    // Confirming or refuting a diagnosis decides whether the patient counts in the registry.
    verificationStatus: 'manual',
    // Onset and abatement estimates are refined over time; the latest refinement is kept.
    onset: 'lww',
    abatement: 'lww',
    // The date the hospital first recorded the condition is a fact of the hospital's record.
    recordedDate: 'fhir',
  }),
})

/**
 * Applies operator overrides to the default rules. The text is a comma-separated list of
 * `entity.field=rule`, such as `patient.gender=manual,condition.onset=fhir`. A bad entry throws a
 * ConfigError naming the field and the allowed fields or rules, which stops start-up.
 */
export function mergeRulesFrom(overrides: string | undefined): MergeRules {
  const rules: MergeRules = {
    patient: { ...DEFAULT_MERGE_RULES.patient },
    condition: { ...DEFAULT_MERGE_RULES.condition },
  }
  const problems: string[] = []

  for (const entry of (overrides ?? '').split(',').map((part) => part.trim())) {
    if (entry === '') continue
    const match = /^(patient|condition)\.([A-Za-z]+)=(.*)$/.exec(entry)
    if (!match) {
      problems.push(
        `"${entry}" is not of the form entity.field=rule, such as patient.gender=manual`,
      )
      continue
    }
    const [, entity, field, rule] = match as unknown as [
      string,
      'patient' | 'condition',
      string,
      string,
    ]
    const fields: readonly string[] =
      entity === 'patient' ? PATIENT_MERGE_FIELDS : CONDITION_MERGE_FIELDS
    if (!fields.includes(field)) {
      problems.push(
        `${entity}.${field} is not a merged field; ${entity} fields: ${fields.join(', ')}`,
      )
      continue
    }
    if (!MERGE_RULE_NAMES.includes(rule as MergeRule)) {
      problems.push(
        `${entity}.${field} has rule "${rule}"; allowed rules: ${MERGE_RULE_NAMES.join(', ')}`,
      )
      continue
    }
    ;(rules[entity] as Record<string, MergeRule>)[field] = rule as MergeRule
  }

  if (problems.length > 0) {
    throw new ConfigError(
      `Invalid configuration:\n  MERGE_RULES: ${problems.join('\n  MERGE_RULES: ')}`,
    )
  }
  return rules
}
