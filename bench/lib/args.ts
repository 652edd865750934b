import { parseArgs } from 'node:util'

/** One numeric command-line option of a benchmark. */
export interface NumberOption {
  default: number
  /** Help text: the setting the option changes, with its unit. */
  description: string
  min?: number
  integer?: boolean
}

/**
 * Parses `--name value` options that take numbers, plus `--fhir-base-url` and `--help`. Prints the
 * usage and exits 0 on --help, and exits 2 with a message on an invalid value.
 */
export function parseBenchArgs<K extends string>(
  command: string,
  summary: string,
  options: Record<K, NumberOption>,
): Record<K, number> & { fhirBaseUrl: string | undefined } {
  const names = Object.keys(options) as K[]
  let values
  try {
    ;({ values } = parseArgs({
      options: {
        ...Object.fromEntries(names.map((name) => [name, { type: 'string' as const }])),
        'fhir-base-url': { type: 'string' },
        help: { type: 'boolean', default: false },
      },
    }))
  } catch (error) {
    // Such as an unknown option, or a negative number that parseArgs takes for an option.
    process.stderr.write(
      `${error instanceof Error ? error.message : String(error)}\nRun ${command} --help for the options.\n`,
    )
    process.exit(2)
  }
  if (values.help) {
    const lines = names.map((name) => {
      const option = options[name]
      return `  --${name} N    ${option.description} (default ${String(option.default)})`
    })
    process.stdout.write(
      `Usage: ${command} [options]\n${summary}\n\n${lines.join('\n')}\n` +
        '  --fhir-base-url URL    a running FHIR server to use instead of the benchmark HAPI\n',
    )
    process.exit(0)
  }

  const parsed = {} as Record<K, number>
  for (const name of names) {
    const option = options[name]
    const raw = (values as Record<string, string | boolean | undefined>)[name]
    const value = typeof raw === 'string' ? Number(raw) : option.default
    const min = option.min ?? 1
    const integer = option.integer ?? true
    if (!Number.isFinite(value) || value < min || (integer && !Number.isInteger(value))) {
      process.stderr.write(
        `--${name} must be ${integer ? 'an integer' : 'a number'} of at least ${String(min)}, got "${String(raw)}"\n`,
      )
      process.exit(2)
    }
    parsed[name] = value
  }
  const fhirBaseUrl = values['fhir-base-url']
  return { ...parsed, fhirBaseUrl: typeof fhirBaseUrl === 'string' ? fhirBaseUrl : undefined }
}
