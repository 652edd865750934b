import type { Random } from './random.ts'

/** The side that made a change: the registry API or the hospital writing straight to HAPI. */
export type Side = 'registry' | 'fhir'

export type EntityType = 'patient' | 'condition'

/** One field value that a side wrote and that its side acknowledged (2xx). */
export interface Edit {
  /** Order of acknowledgement across the whole run. */
  seq: number
  side: Side
  entityType: EntityType
  /** FHIR id of the entity; the registry row carries it as `fhir_id`. */
  fhirId: string
  /** FHIR id of the patient: the entity itself, or the subject of a condition. */
  patientFhirId: string
  /** Field in the registry's terms (`telecom`, `clinicalStatus`...). */
  field: string
  /** The value in the registry's representation of the field. */
  value: unknown
  at: number
}

/** A delete that a side made and its side acknowledged. */
export interface Deletion {
  side: Side
  entityType: EntityType
  fhirId: string
  patientFhirId: string
  at: number
}

/** An API or HAPI response that the workload did not expect, kept for the report. */
export interface UnexpectedResponse {
  side: Side
  operation: string
  status: number
  detail: string
  at: number
}

/** Everything the workload did: acknowledged edits and deletes, and counts per operation. */
export class WorkloadLog {
  readonly edits: Edit[] = []
  readonly deletions: Deletion[] = []
  readonly unexpected: UnexpectedResponse[] = []
  readonly counts = new Map<string, number>()
  #seq = 0

  recordEdit(edit: Omit<Edit, 'seq' | 'at'>): void {
    this.edits.push({ ...edit, seq: ++this.#seq, at: Date.now() })
  }

  recordDeletion(deletion: Omit<Deletion, 'at'>): void {
    this.deletions.push({ ...deletion, at: Date.now() })
  }

  recordUnexpected(response: Omit<UnexpectedResponse, 'at'>): void {
    this.unexpected.push({ ...response, at: Date.now() })
    this.count(`${response.side}.unexpected`)
  }

  count(name: string): void {
    this.counts.set(name, (this.counts.get(name) ?? 0) + 1)
  }

  /** Returns the last acknowledged edit of each (side, entity, field), in acknowledgement order. */
  lastEdits(): Edit[] {
    const last = new Map<string, Edit>()
    for (const edit of this.edits) {
      last.set(`${edit.side} ${edit.entityType} ${edit.fhirId} ${edit.field}`, edit)
    }
    return [...last.values()]
  }
}

/** Patients so many of the workload's picks fall on, so both sides often edit the same ones. */
const HOT_PATIENTS = 8

/**
 * The patients either side of the workload created, by FHIR id. Both sides pick from them: the
 * registry edits the patients the hospital created once they are enrolled, and the hospital edits
 * the registry's once they are in HAPI.
 */
export class World {
  readonly #patients: string[] = []
  readonly #registryIds = new Map<string, string>()
  readonly #gone = new Set<string>()

  get size(): number {
    return this.#patients.length - this.#gone.size
  }

  addPatient(fhirId: string, registryId?: string): void {
    this.#patients.push(fhirId)
    if (registryId !== undefined) this.#registryIds.set(fhirId, registryId)
  }

  registryIdOf(fhirId: string): string | undefined {
    return this.#registryIds.get(fhirId)
  }

  rememberRegistryId(fhirId: string, registryId: string): void {
    this.#registryIds.set(fhirId, registryId)
  }

  markGone(fhirId: string): void {
    this.#gone.add(fhirId)
  }

  /**
   * Picks a patient that no side is known to have deleted: half of the time one of the first
   * few, so edits of both sides meet on the same patients, else any.
   */
  pickPatient(random: Random): string | undefined {
    const live = this.#patients.filter((fhirId) => !this.#gone.has(fhirId))
    if (live.length === 0) return undefined
    const hot = live.slice(0, HOT_PATIENTS)
    return random.chance(0.5) ? random.pick(hot) : random.pick(live)
  }
}
