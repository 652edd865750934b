export const SNOMED_CT = 'http://snomed.info/sct'
export const ICD_10_CM = 'http://hl7.org/fhir/sid/icd-10-cm'
export const CONDITION_CLINICAL_STATUS = 'http://terminology.hl7.org/CodeSystem/condition-clinical'
export const CONDITION_VERIFICATION_STATUS =
  'http://terminology.hl7.org/CodeSystem/condition-ver-status'

/** Channel extension that makes HAPI deliver deletes to a rest-hook (HAPI 6.1 and later). */
export const SEND_DELETE_MESSAGES_EXTENSION =
  'http://hapifhir.io/fhir/StructureDefinition/subscription-send-delete-messages'

export const FHIR_JSON = 'application/fhir+json'
