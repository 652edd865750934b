import type {
  Bundle,
  BundleEntry,
  Condition as FhirCondition,
  Patient as FhirPatient,
} from '@medplum/fhirtypes'
import { FhirRequestError, type FhirClient } from '../../src/fhir/fhir-client.ts'
import { CONDITION_CLINICAL_STATUS } from '../../src/fhir/constants.ts'
import { sleep } from './chaos-hapi.ts'
import type { Random } from './random.ts'
import type { World, WorkloadLog } from './workload-log.ts'
import {
  CHAOS_MRN_SYSTEM,
  EDITED_CONDITION_FIELDS,
  EDITED_PATIENT_FIELDS,
  hasAbatement,
  setConditionField,
  setPatientField,
  type EditedConditionField,
  type EditedPatientField,
  type ValueSource,
} from './workload-values.ts'

/** Tries of one read-modify-write that HAPI rejects because the version moved meanwhile. */
const VERSION_CONFLICT_ATTEMPTS = 4

/** Pause after HAPI did not respond, as while it is stopped or starting. */
const UNAVAILABLE_PAUSE_MS = 1_000

const HOSPITAL_OPERATIONS = {
  createPatient: 10,
  editPatient: 42,
  editCondition: 38,
  addCondition: 4,
  deleteCondition: 3,
  deletePatient: 2,
} as const

type HospitalOperation = keyof typeof HOSPITAL_OPERATIONS

/**
 * One loop of hospital users writing straight to HAPI: new neurology patients, read-modify-write
 * edits with If-Match of the fields the registry maps, and a few deletes. It logs every write
 * HAPI acknowledged.
 */
export class HospitalActor {
  readonly #fhir: FhirClient
  readonly #random: Random
  readonly #values: ValueSource
  readonly #world: World
  readonly #log: WorkloadLog

  constructor(deps: {
    fhir: FhirClient
    random: Random
    values: ValueSource
    world: World
    log: WorkloadLog
  }) {
    this.#fhir = deps.fhir
    this.#random = deps.random
    this.#values = deps.values
    this.#world = deps.world
    this.#log = deps.log
  }

  /** Runs one operation, chosen by weight, and pauses when HAPI does not respond. */
  async step(): Promise<void> {
    const operation: HospitalOperation =
      this.#world.size === 0 ? 'createPatient' : this.#random.weighted(HOSPITAL_OPERATIONS)
    this.#log.count(`fhir.${operation}`)
    try {
      await this.#run(operation)
    } catch (error) {
      if (!(error instanceof FhirRequestError)) throw error
      if (error.isVersionConflict) {
        // Another writer changed a resource of the transaction first; the hospital gives up.
        this.#log.count('fhir.version-conflict')
        return
      }
      if (error.status === 0 || error.status >= 500) {
        // HAPI is stopped or starting: the write may or may not have happened, so it is not logged.
        this.#log.count('fhir.unavailable')
        await sleep(UNAVAILABLE_PAUSE_MS)
        return
      }
      this.#log.recordUnexpected({
        side: 'fhir',
        operation,
        status: error.status,
        detail: error.message.slice(0, 300),
      })
    }
  }

  async #run(operation: HospitalOperation): Promise<void> {
    if (operation === 'createPatient') {
      await this.#createPatient()
      return
    }
    const patientId = this.#world.pickPatient(this.#random)
    if (patientId === undefined) return
    switch (operation) {
      case 'editPatient':
        await this.#editPatient(patientId, this.#random.pick(EDITED_PATIENT_FIELDS))
        return
      case 'editCondition':
        await this.#editCondition(patientId, this.#random.pick(EDITED_CONDITION_FIELDS))
        return
      case 'addCondition':
        await this.#addCondition(patientId)
        return
      case 'deleteCondition':
        await this.#deleteCondition(patientId)
        return
      case 'deletePatient':
        await this.#deletePatient(patientId)
        return
    }
  }

  /** Creates a Patient with one or two neurological Conditions in one transaction. */
  async #createPatient(): Promise<void> {
    const fields = {
      names: this.#values.patientValue('names'),
      telecom: this.#values.patientValue('telecom'),
      gender: this.#values.patientValue('gender'),
      addresses: this.#values.patientValue('addresses'),
    }
    const patient: FhirPatient = {
      resourceType: 'Patient',
      identifier: [
        { use: 'usual', system: CHAOS_MRN_SYSTEM, value: this.#values.medicalRecordNumber() },
      ],
      birthDate: this.#values.birthDate(),
    }
    for (const field of EDITED_PATIENT_FIELDS) setPatientField(patient, field, fields[field])
    const patientUrl = `urn:uuid:${crypto.randomUUID()}`
    const conditions = Array.from({ length: this.#random.int(1, 2) }, () =>
      this.#newCondition(patientUrl),
    )
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { fullUrl: patientUrl, resource: patient, request: { method: 'POST', url: 'Patient' } },
        ...conditions.map((condition): BundleEntry => ({
          fullUrl: `urn:uuid:${crypto.randomUUID()}`,
          resource: condition,
          request: { method: 'POST', url: 'Condition' },
        })),
      ],
    }

    const response = await this.#fhir.transaction(bundle)
    const [patientId, ...conditionIds] = (response.entry ?? []).map(
      (entry) => entry.response?.location?.split('/')[1] ?? '',
    )
    if (!patientId) throw new Error('HAPI returned no location for the new Patient')
    this.#world.addPatient(patientId)
    for (const field of EDITED_PATIENT_FIELDS) {
      this.#recordEdit('patient', patientId, patientId, field, fields[field])
    }
    conditionIds.forEach((conditionId, index) => {
      const condition = conditions[index]
      if (!condition) return
      this.#recordEdit('condition', conditionId, patientId, 'clinicalStatus', 'active')
      this.#recordEdit('condition', conditionId, patientId, 'onset', {
        dateTime: condition.onsetDateTime,
      })
    })
  }

  async #editPatient(patientId: string, field: EditedPatientField): Promise<void> {
    const value = this.#values.patientValue(field)
    const stored = await this.#readModifyWrite<FhirPatient>('Patient', patientId, (resource) => {
      setPatientField(resource, field, value)
    })
    if (stored) this.#recordEdit('patient', patientId, patientId, field, value)
  }

  async #editCondition(patientId: string, field: EditedConditionField): Promise<void> {
    const conditionId = await this.#pickCondition(patientId)
    if (conditionId === undefined) return
    let changes: Record<string, unknown> = {}
    const stored = await this.#readModifyWrite<FhirCondition>(
      'Condition',
      conditionId,
      (resource) => {
        changes = this.#conditionChanges(resource, field)
        for (const [name, value] of Object.entries(changes)) {
          setConditionField(resource, name as EditedConditionField, value)
        }
      },
    )
    if (!stored) return
    for (const [name, value] of Object.entries(changes)) {
      this.#recordEdit('condition', conditionId, patientId, name, value)
    }
  }

  /** The changes of one condition edit, keeping the statuses valid beside an abatement. */
  #conditionChanges(resource: FhirCondition, field: EditedConditionField): Record<string, unknown> {
    switch (field) {
      case 'clinicalStatus':
        return { clinicalStatus: this.#values.clinicalStatus(hasAbatement(resource)) }
      case 'onset':
        return { onset: this.#values.timing() }
      case 'abatement':
        return this.#random.chance(0.7)
          ? { abatement: this.#values.timing(), clinicalStatus: this.#values.clinicalStatus(true) }
          : { abatement: null }
    }
  }

  async #addCondition(patientId: string): Promise<void> {
    if ((await this.#fhir.read<FhirPatient>('Patient', patientId)) === null) {
      this.#world.markGone(patientId)
      return
    }
    const condition = this.#newCondition(`Patient/${patientId}`)
    const created = await this.#fhir.post<FhirCondition>('Condition', condition)
    const conditionId = created.id ?? ''
    this.#recordEdit('condition', conditionId, patientId, 'clinicalStatus', 'active')
    this.#recordEdit('condition', conditionId, patientId, 'onset', {
      dateTime: condition.onsetDateTime,
    })
  }

  async #deleteCondition(patientId: string): Promise<void> {
    const conditionId = await this.#pickCondition(patientId)
    if (conditionId === undefined) return
    await this.#fhir.delete('Condition', conditionId)
    this.#log.recordDeletion({
      side: 'fhir',
      entityType: 'condition',
      fhirId: conditionId,
      patientFhirId: patientId,
    })
  }

  /** Deletes a Patient with its Conditions in one transaction, since HAPI enforces references. */
  async #deletePatient(patientId: string): Promise<void> {
    const conditions = await this.#conditionsOf(patientId)
    await this.#fhir.transaction({
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        ...conditions.map((condition): BundleEntry => ({
          request: { method: 'DELETE', url: `Condition/${condition.id ?? ''}` },
        })),
        { request: { method: 'DELETE', url: `Patient/${patientId}` } },
      ],
    })
    this.#world.markGone(patientId)
    for (const condition of conditions) {
      this.#log.recordDeletion({
        side: 'fhir',
        entityType: 'condition',
        fhirId: condition.id ?? '',
        patientFhirId: patientId,
      })
    }
    this.#log.recordDeletion({
      side: 'fhir',
      entityType: 'patient',
      fhirId: patientId,
      patientFhirId: patientId,
    })
  }

  /**
   * Reads the current version, applies `edit` and writes it with If-Match, reading again after a
   * version conflict. Returns the stored version, or null when the resource is gone.
   */
  async #readModifyWrite<R extends FhirPatient | FhirCondition>(
    type: R['resourceType'],
    id: string,
    edit: (resource: R) => void,
  ): Promise<R | null> {
    for (let attempt = 1; attempt <= VERSION_CONFLICT_ATTEMPTS; attempt++) {
      const current = await this.#fhir.read<R>(type, id)
      if (!current) {
        if (type === 'Patient') this.#world.markGone(id)
        return null
      }
      const changed = structuredClone(current)
      edit(changed)
      try {
        return await this.#fhir.update(changed, { ifMatchVersion: Number(current.meta?.versionId) })
      } catch (error) {
        if (!(error instanceof FhirRequestError && error.isVersionConflict)) throw error
        this.#log.count('fhir.version-conflict')
      }
    }
    return null
  }

  async #pickCondition(patientId: string): Promise<string | undefined> {
    const conditions = await this.#conditionsOf(patientId)
    if (conditions.length === 0) return undefined
    return this.#random.pick(conditions).id
  }

  async #conditionsOf(patientId: string): Promise<FhirCondition[]> {
    return this.#fhir.searchAll<FhirCondition>('Condition', {
      subject: `Patient/${patientId}`,
      _count: '50',
    })
  }

  #newCondition(subject: string): FhirCondition {
    return {
      resourceType: 'Condition',
      subject: { reference: subject },
      code: { coding: [this.#values.coding()] },
      clinicalStatus: { coding: [{ system: CONDITION_CLINICAL_STATUS, code: 'active' }] },
      verificationStatus: {
        coding: [
          {
            system: 'http://terminology.hl7.org/CodeSystem/condition-ver-status',
            code: 'confirmed',
          },
        ],
      },
      onsetDateTime: this.#values.timing().dateTime,
      recordedDate: '2023-03-01',
    }
  }

  #recordEdit(
    entityType: 'patient' | 'condition',
    fhirId: string,
    patientFhirId: string,
    field: string,
    value: unknown,
  ): void {
    this.#log.recordEdit({ side: 'fhir', entityType, fhirId, patientFhirId, field, value })
  }
}
