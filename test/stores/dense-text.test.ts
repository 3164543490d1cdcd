// Records read as text keep it for a copy to forward, and nothing else ever gets it.
import t from 'tap'
import { denseText, withDenseText } from '../../src/stores/dense-text.js'
import { vectorJson } from '../../src/stores/pinecone/record-json.js'

t.test('a record read as text forwards the text and parses it only when read', async (t) => {
  const v = withDenseText({ id: 'a', metadata: { k: 1 } }, '[0.5,-0.25,1e-7]')
  t.equal(denseText(v), '[0.5,-0.25,1e-7]')
  t.equal(
    vectorJson(v),
    '{"id":"a","values":[0.5,-0.25,1e-7],"metadata":{"k":1}}',
    'the upsert body carries the text as read',
  )
  t.ok(v.values instanceof Float32Array, 'values parse on first read')
  t.same(Array.from(v.values ?? []), [0.5, -0.25, Math.fround(1e-7)])
  t.equal(v.values, v.values, 'parsed once: the same array afterwards')
  t.same(Object.keys(v), ['id', 'metadata', 'values'], 'values is an ordinary enumerable property')
})

t.test('a record made from another is printed from its own values, never the old text', async (t) => {
  const v = withDenseText({ id: 'a' }, '[1,2]')
  const replaced = { ...v, values: Float32Array.of(3, 4) }
  t.equal(denseText(replaced), undefined)
  t.equal(vectorJson(replaced), '{"id":"a","values":[3,4]}')
  const copied = { ...v }
  t.equal(denseText(copied), undefined, 'a spread copy is a new record')
  t.same(Array.from(copied.values ?? []), [1, 2])
  t.equal(vectorJson(copied), '{"id":"a","values":[1,2]}')
})
