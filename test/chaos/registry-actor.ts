import type { Condition } from '../../src/conditions/condition.schemas.ts'
import type { Patient } from '../../src/patients/patient.schemas.ts'
import type { TestRegistry } from '../harness.ts'
import type { Random } from './random.ts'
import type { World, WorkloadLog } from './workload-log.ts'
import {
  EDITED_CONDITION_FIELDS,
  EDITED_PATIENT_FIELDS,
  type EditedConditionField,
  type ValueSource,
} from './workload-values.ts'

/** Tries of one write that the API rejects with 412 because a merge changed the row meanwhile. */
const STALE_WRITE_ATTEMPTS = 3

const REGISTRY_OPERATIONS = {
  createPatient: 6,
  patchPatient: 35,
  putPatient: 10,
  patchCondition: 30,
  addCondition: 6,
  deleteCondition: 3,
  deletePatient: 2,
} as const

type RegistryOperation = keyof typeof REGISTRY_OPERATIONS

interface Page<T> {
  items: T[]
}

/**
 * One loop of registry users: creates, edits and deletes patients and conditions through the API,
 * each write with the ETag of a fresh read, and logs every write the API acknowledged.
 */
export class RegistryActor {
  readonly #api: TestRegistry['api']
  readonly #identifierSystem: string
  readonly #random: Random
  readonly #values: ValueSource
  readonly #world: World
  readonly #log: WorkloadLog

  constructor(deps: {
    api: TestRegistry['api']
    identifierSystem: string
    random: Random
    values: ValueSource
    world: World
    log: WorkloadLog
  }) {
    this.#api = deps.api
    this.#identifierSystem = deps.identifierSystem
    this.#random = deps.random
    this.#values = deps.values
    this.#world = deps.world
    this.#log = deps.log
  }

  /** Runs one operation, chosen by weight; creates a patient while the world is empty. */
  async step(): Promise<void> {
    const operation: RegistryOperation =
      this.#world.size === 0 ? 'createPatient' : this.#random.weighted(REGISTRY_OPERATIONS)
    this.#log.count(`registry.${operation}`)
    if (operation === 'createPatient') {
      await this.#createPatient()
      return
    }
    const patient = await this.#pickPatient()
    if (!patient) {
      this.#log.count('registry.skipped-not-enrolled')
      return
    }
    switch (operation) {
      case 'patchPatient':
      case 'putPatient':
        await this.#editPatient(patient, operation === 'putPatient' ? 'PUT' : 'PATCH')
        return
      case 'patchCondition':
        await this.#patchCondition(patient)
        return
      case 'addCondition':
        await this.#addCondition(patient)
        return
      case 'deleteCondition':
        await this.#deleteCondition(patient)
        return
      case 'deletePatient':
        await this.#deletePatient(patient)
        return
    }
  }

  async #createPatient(): Promise<void> {
    const fields = {
      names: this.#values.patientValue('names'),
      birthDate: this.#values.birthDate(),
      gender: this.#values.patientValue('gender'),
      telecom: this.#values.patientValue('telecom'),
      addresses: this.#values.patientValue('addresses'),
    }
    const response = await this.#api('POST', '/patients', fields)
    if (response.status !== 201) return this.#unexpected('createPatient', response)
    const patient = (await response.json()) as Patient
    const fhirId = patient.sync.fhirId ?? patient.id
    this.#world.addPatient(fhirId, patient.id)
    for (const field of EDITED_PATIENT_FIELDS) {
      this.#recordPatientEdit(fhirId, field, fields[field])
    }
    for (let count = this.#random.int(1, 2); count > 0; count--) {
      await this.#addCondition(patient)
    }
  }

  async #editPatient(patient: Patient, method: 'PUT' | 'PATCH'): Promise<void> {
    const field = this.#random.pick(EDITED_PATIENT_FIELDS)
    const value = this.#values.patientValue(field)
    let current = patient
    for (let attempt = 1; attempt <= STALE_WRITE_ATTEMPTS; attempt++) {
      const body =
        method === 'PATCH'
          ? { [field]: value }
          : {
              names: current.names,
              birthDate: current.birthDate,
              gender: current.gender,
              // The API adds the registry identifier itself and rejects it in a write.
              identifiers: current.identifiers.filter(
                (identifier) => identifier.system !== this.#identifierSystem,
              ),
              telecom: current.telecom,
              addresses: current.addresses,
              deceased: current.deceased,
              [field]: value,
            }
      const response = await this.#api(method, `/patients/${current.id}`, body, {
        'If-Match': `"${current.version}"`,
      })
      if (response.status === 200) {
        this.#recordPatientEdit(current.sync.fhirId ?? current.id, field, value)
        return
      }
      if (response.status !== 412) return this.#rejected(`${method} patient`, response)
      this.#log.count('registry.stale-write')
      const fresh = await this.#getPatient(current.id)
      if (!fresh) return
      current = fresh
    }
  }

  async #patchCondition(patient: Patient): Promise<void> {
    const conditions = await this.#listConditions(patient.id)
    if (conditions.length === 0) return
    let current = this.#random.pick(conditions)
    const field = this.#random.pick(EDITED_CONDITION_FIELDS)
    for (let attempt = 1; attempt <= STALE_WRITE_ATTEMPTS; attempt++) {
      const changes = this.#conditionChanges(current, field)
      const response = await this.#api('PATCH', `/conditions/${current.id}`, changes, {
        'If-Match': `"${current.version}"`,
      })
      if (response.status === 200) {
        for (const [name, value] of Object.entries(changes)) {
          this.#recordConditionEdit(current, patient, name, value)
        }
        return
      }
      if (response.status !== 412) return this.#rejected('PATCH condition', response)
      this.#log.count('registry.stale-write')
      const fresh = await this.#api('GET', `/conditions/${current.id}`)
      if (fresh.status !== 200) return
      current = (await fresh.json()) as Condition
    }
  }

  /** The PATCH body of one condition edit, keeping the statuses valid beside an abatement. */
  #conditionChanges(current: Condition, field: EditedConditionField): Record<string, unknown> {
    switch (field) {
      case 'clinicalStatus':
        return { clinicalStatus: this.#values.clinicalStatus(current.abatement !== null) }
      case 'onset':
        return { onset: this.#values.timing() }
      case 'abatement':
        return this.#random.chance(0.7)
          ? { abatement: this.#values.timing(), clinicalStatus: this.#values.clinicalStatus(true) }
          : { abatement: null }
    }
  }

  async #addCondition(patient: Patient): Promise<void> {
    const fields = {
      clinicalStatus: 'active',
      onset: this.#values.timing(),
    }
    const response = await this.#api('POST', '/conditions', {
      patientId: patient.id,
      code: { coding: [this.#values.coding()] },
      verificationStatus: 'confirmed',
      recordedDate: '2024-01-15',
      ...fields,
    })
    if (response.status === 400) return this.#rejected('POST condition', response)
    if (response.status !== 201) return this.#unexpected('POST condition', response)
    const condition = (await response.json()) as Condition
    for (const [name, value] of Object.entries(fields)) {
      this.#recordConditionEdit(condition, patient, name, value)
    }
  }

  async #deleteCondition(patient: Patient): Promise<void> {
    const conditions = await this.#listConditions(patient.id)
    if (conditions.length === 0) return
    const condition = this.#random.pick(conditions)
    const response = await this.#api('DELETE', `/conditions/${condition.id}`, undefined, {
      'If-Match': `"${condition.version}"`,
    })
    if (response.status !== 204) return this.#rejected('DELETE condition', response)
    this.#log.recordDeletion({
      side: 'registry',
      entityType: 'condition',
      fhirId: condition.sync.fhirId ?? condition.id,
      patientFhirId: patient.sync.fhirId ?? patient.id,
    })
  }

  async #deletePatient(patient: Patient): Promise<void> {
    const response = await this.#api('DELETE', `/patients/${patient.id}`, undefined, {
      'If-Match': `"${patient.version}"`,
    })
    if (response.status !== 204) return this.#rejected('DELETE patient', response)
    const fhirId = patient.sync.fhirId ?? patient.id
    this.#world.markGone(fhirId)
    this.#log.recordDeletion({
      side: 'registry',
      entityType: 'patient',
      fhirId,
      patientFhirId: fhirId,
    })
  }

  /** Picks a known patient and reads it from the API; undefined when it is not enrolled yet. */
  async #pickPatient(): Promise<Patient | undefined> {
    const fhirId = this.#world.pickPatient(this.#random)
    if (fhirId === undefined) return undefined
    let id = this.#world.registryIdOf(fhirId)
    if (id === undefined) {
      const response = await this.#api('GET', `/patients?fhirId=${encodeURIComponent(fhirId)}`)
      if (response.status !== 200) return this.#unexpected('GET patients', response)
      id = ((await response.json()) as Page<Patient>).items[0]?.id
      if (id === undefined) return undefined
      this.#world.rememberRegistryId(fhirId, id)
    }
    return this.#getPatient(id)
  }

  async #getPatient(id: string): Promise<Patient | undefined> {
    const response = await this.#api('GET', `/patients/${id}`)
    if (response.status === 404) {
      await response.body?.cancel()
      return undefined
    }
    if (response.status !== 200) return this.#unexpected('GET patient', response)
    return (await response.json()) as Patient
  }

  async #listConditions(patientId: string): Promise<Condition[]> {
    const response = await this.#api('GET', `/conditions?patientId=${patientId}&limit=50`)
    if (response.status !== 200) {
      await this.#unexpected('GET conditions', response)
      return []
    }
    return ((await response.json()) as Page<Condition>).items
  }

  #recordPatientEdit(fhirId: string, field: string, value: unknown): void {
    this.#log.recordEdit({
      side: 'registry',
      entityType: 'patient',
      fhirId,
      patientFhirId: fhirId,
      field,
      value,
    })
  }

  #recordConditionEdit(condition: Condition, patient: Patient, field: string, value: unknown) {
    this.#log.recordEdit({
      side: 'registry',
      entityType: 'condition',
      fhirId: condition.sync.fhirId ?? condition.id,
      patientFhirId: patient.sync.fhirId ?? patient.id,
      field,
      value,
    })
  }

  /**
   * Counts a response that a concurrent change explains: 404 for a row deleted meanwhile, 400 for
   * statuses a merge left invalid together (the API checks the whole condition on every write).
   */
  async #rejected(operation: string, response: Response): Promise<undefined> {
    if (response.status === 404 || response.status === 400) {
      const body = (await response.json()) as { code?: string }
      this.#log.count(`registry.rejected.${response.status}.${body.code ?? 'no-code'}`)
      return undefined
    }
    return this.#unexpected(operation, response)
  }

  async #unexpected(operation: string, response: Response): Promise<undefined> {
    const text = await response.text()
    this.#log.recordUnexpected({
      side: 'registry',
      operation,
      status: response.status,
      detail: text.slice(0, 300),
    })
    return undefined
  }
}
