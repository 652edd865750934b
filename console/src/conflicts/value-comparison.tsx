import { useId } from 'react'
import {
  compareValues,
  formatLeaf,
  formatPath,
  type Change,
  type DiffRow,
  type Leaf,
} from './value-diff.ts'

function Absent() {
  return <span className="muted">(absent)</span>
}

/** One side's leaf, marked against the base with words and `<ins>`/`<del>`, not colour alone. */
function SideCell({ base, side, change }: { base?: Leaf; side?: Leaf; change: Change }) {
  switch (change) {
    case 'same':
      return <td>{side === undefined ? <Absent /> : formatLeaf(side)}</td>
    case 'added':
      return (
        <td className="side-changed">
          <span className="change-label">added</span>{' '}
          <ins className="diff">{formatLeaf(side ?? null)}</ins>
        </td>
      )
    case 'removed':
      return (
        <td className="side-changed">
          <span className="change-label">removed</span>{' '}
          <del className="diff">{formatLeaf(base ?? null)}</del>
        </td>
      )
    case 'changed':
      return (
        <td className="side-changed">
          <span className="change-label">changed</span>{' '}
          <del className="diff">{formatLeaf(base ?? null)}</del>{' '}
          <ins className="diff">{formatLeaf(side ?? null)}</ins>
        </td>
      )
  }
}

function ComparisonRow({ row, fieldLabel }: { row: DiffRow; fieldLabel: string }) {
  const path = formatPath(row.path)
  return (
    <tr>
      <th scope="row">{path === '' ? fieldLabel : <code>{path}</code>}</th>
      <td>{row.base === undefined ? <Absent /> : formatLeaf(row.base)}</td>
      <SideCell base={row.base} side={row.registry} change={row.registryChange} />
      <SideCell base={row.base} side={row.fhir} change={row.fhirChange} />
      <td>
        {row.sidesDiffer ? (
          <span className="badge warn">differ</span>
        ) : (
          <span className="badge ok">same</span>
        )}
      </td>
    </tr>
  )
}

/**
 * The base, registry and FHIR values of a conflict's part side by side, one row per leaf (a
 * scalar part has one row). Each side's cell shows whether it changed, was added or was removed
 * against the base, and the last column shows whether the two sides agree.
 */
export function ValueComparison({
  base,
  registry,
  fhir,
  fieldLabel,
}: {
  base: unknown
  registry: unknown
  fhir: unknown
  fieldLabel: string
}) {
  const captionId = useId()
  const rows = compareValues(base, registry, fhir)
  if (rows.length === 0) {
    return <p className="muted">All three values are absent.</p>
  }
  return (
    // A focusable region, so that keyboard users can scroll a table wider than the screen.
    <div className="table-scroll" role="region" aria-labelledby={captionId} tabIndex={0}>
      <table className="value-comparison">
        <caption id={captionId}>Values side by side, each side marked against the base</caption>
        <thead>
          <tr>
            <th scope="col">Part</th>
            <th scope="col">Base (last agreed)</th>
            <th scope="col">Registry</th>
            <th scope="col">FHIR</th>
            <th scope="col">Registry vs FHIR</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => (
            <ComparisonRow key={JSON.stringify(row.path)} row={row} fieldLabel={fieldLabel} />
          ))}
        </tbody>
      </table>
    </div>
  )
}
