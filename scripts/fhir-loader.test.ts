import type { Condition, Patient } from '@medplum/fhirtypes'
import { describe, expect, it } from 'vitest'
import { withoutDanglingReferences } from './fhir-loader.ts'

const LOADED = new Set(['Patient/p1', 'Condition/c1'])

describe('withoutDanglingReferences', () => {
  it('drops a reference to a resource outside the load', () => {
    const condition: Condition = {
      resourceType: 'Condition',
      id: 'c1',
      subject: { reference: 'Patient/p1' },
      encounter: { reference: 'Encounter/e1' },
    }

    const copy = withoutDanglingReferences(condition, LOADED) as Condition

    expect(copy.encounter).toBeUndefined()
    expect(copy.subject).toEqual({ reference: 'Patient/p1' })
  })

  it('drops dangling array items and an array left empty', () => {
    const patient: Patient = {
      resourceType: 'Patient',
      id: 'p1',
      generalPractitioner: [{ reference: 'Practitioner/x' }],
      link: [
        { other: { reference: 'Patient/p1' }, type: 'seealso' },
        { other: { reference: 'Patient/gone' }, type: 'seealso' },
      ],
      managingOrganization: { reference: 'Organization/1' },
    }

    const copy = withoutDanglingReferences(patient, LOADED) as Patient

    expect(copy.generalPractitioner).toBeUndefined()
    expect(copy.managingOrganization).toBeUndefined()
    expect(copy.link).toEqual([{ other: { reference: 'Patient/p1' }, type: 'seealso' }])
  })

  it('keeps contained and absolute references', () => {
    const condition: Condition = {
      resourceType: 'Condition',
      id: 'c1',
      subject: { reference: 'Patient/p1' },
      asserter: { reference: '#author' },
      recorder: { reference: 'urn:uuid:0b5e' },
    }

    const copy = withoutDanglingReferences(condition, LOADED) as Condition

    expect(copy.asserter).toEqual({ reference: '#author' })
    expect(copy.recorder).toEqual({ reference: 'urn:uuid:0b5e' })
  })

  it('skips a resource whose subject is outside the load', () => {
    const condition: Condition = {
      resourceType: 'Condition',
      id: 'c2',
      subject: { reference: 'Patient/elsewhere' },
    }

    expect(withoutDanglingReferences(condition, LOADED)).toBeNull()
  })

  it('leaves the input unchanged', () => {
    const condition: Condition = {
      resourceType: 'Condition',
      id: 'c1',
      subject: { reference: 'Patient/p1' },
      encounter: { reference: 'Encounter/e1' },
    }

    withoutDanglingReferences(condition, LOADED)

    expect(condition.encounter).toEqual({ reference: 'Encounter/e1' })
  })
})
