import type { Condition, Identifier, Patient, Reference } from '@medplum/fhirtypes'
import type { FhirClient } from '../fhir/fhir-client.ts'
import type { Logger } from '../platform/logger.ts'

/**
 * Reason a Condition's subject could not be resolved to one Patient on this FHIR server. The
 * codes carry no patient data, so they may be stored and logged.
 *
 * - `no-subject`: the subject has neither a reference nor an identifier.
 * - `unsupported-reference`: the reference is not `<type>/<id>` on a FHIR base, such as a
 *   contained `#id`, a `urn:uuid:` or a conditional reference.
 * - `other-server`: the reference is an absolute URL on another FHIR server.
 * - `incomplete-identifier`: the identifier lacks a system or a value, so a search could match
 *   another assigner's patient.
 * - `patient-not-found`: HAPI returned 404 or 410 for the referenced Patient.
 * - `identifier-not-found`: no Patient carries the identifier.
 * - `identifier-ambiguous`: more than one Patient carries the identifier.
 */
export type UnresolvedSubjectReason =
  | 'no-subject'
  | 'unsupported-reference'
  | 'other-server'
  | 'incomplete-identifier'
  | 'patient-not-found'
  | 'identifier-not-found'
  | 'identifier-ambiguous'

/** Outcome of resolving a Condition's subject. */
export type SubjectResolution =
  | { kind: 'patient'; patient: Patient }
  | { kind: 'not-a-patient'; resourceType: string }
  | { kind: 'unresolved'; reason: UnresolvedSubjectReason }

export interface SubjectResolverDeps {
  fhir: FhirClient
  logger: Logger
}

/** A reference split into type and id, or marked as one the resolver cannot follow. */
type ParsedReference =
  | { kind: 'local'; resourceType: string; id: string }
  | { kind: 'remote'; resourceType: string }
  | { kind: 'unsupported' }

const CORE_DEFINITION_PREFIX = 'http://hl7.org/fhir/StructureDefinition/'
const FHIR_ID = '[A-Za-z0-9\\-.]{1,64}'
const RELATIVE_REFERENCE = new RegExp(`^([A-Z][A-Za-z]+)/(${FHIR_ID})(?:/_history/${FHIR_ID})?$`)
const ABSOLUTE_REFERENCE_TAIL = new RegExp(
  `/([A-Z][A-Za-z]+)/(${FHIR_ID})(?:/_history/${FHIR_ID})?$`,
)

/**
 * Finds the Patient a FHIR Condition is about, from a literal reference on this server or from
 * a logical reference by identifier.
 */
export class SubjectResolver {
  readonly #fhir: FhirClient
  readonly #logger: Logger
  readonly #base: URL

  constructor(deps: SubjectResolverDeps) {
    this.#fhir = deps.fhir
    this.#logger = deps.logger
    this.#base = new URL(deps.fhir.baseUrl)
  }

  /**
   * Resolves `condition.subject` to the current version of its Patient in HAPI. A literal
   * reference wins over the identifier, except that a Patient reference to another server falls
   * back to the identifier when there is one. Errors of HAPI other than 404 and 410 propagate.
   */
  async resolve(condition: Condition): Promise<SubjectResolution> {
    const logger = this.#logger.child({ fhirId: `Condition/${condition.id ?? ''}` })
    const resolution = await this.#resolveSubject(condition.subject, logger)

    logger.debug('Condition subject resolved', {
      kind: resolution.kind,
      ...(resolution.kind === 'patient'
        ? { subject: `Patient/${resolution.patient.id ?? ''}` }
        : {}),
      ...(resolution.kind === 'unresolved' ? { reason: resolution.reason } : {}),
    })
    return resolution
  }

  async #resolveSubject(
    subject: Reference | undefined,
    logger: Logger,
  ): Promise<SubjectResolution> {
    const reference = subject?.reference?.trim()
    const identifier = subject?.identifier

    if (reference) {
      const parsed = this.#parseReference(reference)
      if (parsed.kind === 'unsupported') return unresolved('unsupported-reference')
      if (parsed.resourceType !== 'Patient') {
        return { kind: 'not-a-patient', resourceType: parsed.resourceType }
      }
      if (parsed.kind === 'local') return this.#readPatient(parsed.id)
      // A hospital may reference its own server and add the identifier it issued, which the
      // Patient on this server may carry too.
      return identifier ? this.#searchByIdentifier(identifier, logger) : unresolved('other-server')
    }

    if (identifier) {
      // Condition.subject may only be a Patient or a Group; without a type it is read as Patient.
      // Reference.type may also be the canonical URL of the resource definition.
      const type = subject.type?.trim().replace(CORE_DEFINITION_PREFIX, '')
      if (type && type !== 'Patient') return { kind: 'not-a-patient', resourceType: type }
      return this.#searchByIdentifier(identifier, logger)
    }
    return unresolved('no-subject')
  }

  #parseReference(reference: string): ParsedReference {
    const relative = RELATIVE_REFERENCE.exec(reference)
    if (relative) return { kind: 'local', resourceType: relative[1] ?? '', id: relative[2] ?? '' }
    if (!/^https?:\/\//i.test(reference)) return { kind: 'unsupported' }

    const url = URL.parse(reference)
    if (!url || url.search !== '' || url.hash !== '') return { kind: 'unsupported' }

    const basePath = this.#base.pathname.replace(/\/+$/, '')
    if (url.origin === this.#base.origin && url.pathname.startsWith(`${basePath}/`)) {
      const local = RELATIVE_REFERENCE.exec(url.pathname.slice(basePath.length + 1))
      if (!local) return { kind: 'unsupported' }
      return { kind: 'local', resourceType: local[1] ?? '', id: local[2] ?? '' }
    }
    const remote = ABSOLUTE_REFERENCE_TAIL.exec(url.pathname)
    if (!remote) return { kind: 'unsupported' }
    return { kind: 'remote', resourceType: remote[1] ?? '' }
  }

  async #readPatient(id: string): Promise<SubjectResolution> {
    // The current version matters for enrolment, even when the reference names an older one.
    const patient = await this.#fhir.read<Patient>('Patient', id)
    return patient ? { kind: 'patient', patient } : unresolved('patient-not-found')
  }

  async #searchByIdentifier(identifier: Identifier, logger: Logger): Promise<SubjectResolution> {
    const system = identifier.system?.trim()
    const value = identifier.value?.trim()
    if (!system || !value) return unresolved('incomplete-identifier')

    // Two matches are enough to reject the identifier, because hospitals reuse record numbers and
    // a guess could attach the Condition to another person.
    const bundle = await this.#fhir.search<Patient>('Patient', {
      identifier: `${escapeSearchValue(system)}|${escapeSearchValue(value)}`,
      _count: '2',
    })
    const matches = (bundle.entry ?? [])
      .filter((entry) => entry.search?.mode !== 'include')
      .map((entry) => entry.resource)
      .filter((resource): resource is Patient => resource?.resourceType === 'Patient')

    const [patient] = matches
    if (!patient) return unresolved('identifier-not-found')
    if (matches.length > 1) {
      logger.warn('Several Patients carry the identifier of a Condition subject', {
        subjects: matches.map((match) => `Patient/${match.id ?? ''}`),
      })
      return unresolved('identifier-ambiguous')
    }
    return { kind: 'patient', patient }
  }
}

function unresolved(reason: UnresolvedSubjectReason): SubjectResolution {
  return { kind: 'unresolved', reason }
}

/**
 * Escapes the characters that FHIR search gives a meaning inside a parameter value: `,` separates
 * alternatives, `|` separates system and value, and `$` separates composite parts.
 */
function escapeSearchValue(value: string): string {
  return value.replace(/[\\,|$]/g, (character) => `\\${character}`)
}
