import { test } from 'node:test';
import assert from 'node:assert/strict';

import {
  formatFloat,
  formatValue,
  goJson,
  goMap,
  goQuote,
  goStruct,
  goTimeString,
  GO_MARSHAL_JSON,
  rfc3339Nano,
  sprint,
  sprintf,
  sprintln,
} from '../../src/format/index.js';

test('formatFloat: %g with precision rounds half-to-even on the exact value', () => {
  assert.equal(formatFloat(2.125, 'g', 3), '2.12');
  assert.equal(formatFloat(2.135, 'g', 3), '2.13'); // 2.135 is really 2.13499999...
  assert.equal(formatFloat(999.6, 'g', 3), '1e+03');
  assert.equal(formatFloat(1.982436, 'g', 3), '1.98');
  assert.equal(formatFloat(100, 'g', 3), '100');
  assert.equal(formatFloat(1000, 'g', 3), '1e+03');
  assert.equal(formatFloat(0, 'g', 3), '0');
  assert.equal(formatFloat(0.0001234, 'g', 3), '0.000123');
  assert.equal(formatFloat(0.00001234, 'g', 3), '1.23e-05');
  assert.equal(formatFloat(1.5, 'g', 0), '2');
  assert.equal(formatFloat(2.5, 'g', 1), '2');
});

test('formatFloat: shortest forms (%v)', () => {
  assert.equal(formatFloat(1e6, 'g', -1), '1e+06');
  assert.equal(formatFloat(123456, 'g', -1), '123456');
  assert.equal(formatFloat(0.1, 'g', -1), '0.1');
  assert.equal(formatFloat(1e-5, 'g', -1), '1e-05');
  assert.equal(formatFloat(0.0001, 'g', -1), '0.0001');
  assert.equal(formatFloat(1e21, 'g', -1), '1e+21');
  assert.equal(formatFloat(-0.5, 'g', -1), '-0.5');
  assert.equal(formatFloat(1234.5678, 'e', -1), '1.2345678e+03');
  assert.equal(formatFloat(1234.5678, 'f', -1), '1234.5678');
});

test('formatFloat: %e and %f', () => {
  assert.equal(formatFloat(1234.5678, 'e', 6), '1.234568e+03');
  assert.equal(formatFloat(0, 'e', 2), '0.00e+00');
  assert.equal(formatFloat(1e100, 'e', 1), '1.0e+100');
  assert.equal(formatFloat(3.14159, 'f', 2), '3.14');
  assert.equal(formatFloat(0.125, 'f', 2), '0.12');
  assert.equal(formatFloat(0.375, 'f', 2), '0.38');
  assert.equal(formatFloat(0.5, 'f', 0), '0');
  assert.equal(formatFloat(1.5, 'f', 0), '2');
  assert.equal(formatFloat(99.99, 'f', 1), '100.0');
  assert.equal(formatFloat(5e-324, 'e', 2), '4.94e-324');
  assert.equal(formatFloat(Infinity, 'f', 2), '+Inf');
  assert.equal(formatFloat(NaN, 'g', -1), 'NaN');
});

test('sprintf: verbs, flags, width and precision', () => {
  assert.equal(sprintf('%d %5d %-5d| %05d %+d %x %X %#x %o %#o %b %c %U', [42, 42, 42, -42, 42, 255, 255, 255, 8, 8, 5, 0x4e16, 0x4e16]), '42    42 42   | -0042 +42 ff FF 0xff 10 010 101 世 U+4E16');
  assert.equal(sprintf('%s|%10s|%-10s|%.3s|%q|%x|% x|%X', ['go', 'right', 'left', 'truncate', 'q"\n', 'hi', 'hi', 'hi']), 'go|     right|left      |tru|"q\\"\\n"|6869|68 69|6869');
  assert.equal(sprintf('%v|%t|%v|%v', [true, false, null, undefined]), 'true|false|<nil>|<nil>');
  assert.equal(sprintf('%6.2f|%-8.3f|%08.3f|%+.2e|%g|%G', [3.14159, 2.5, -3.14159, 12345.678, 1e-7, 1e21]), '  3.14|2.500   |-003.142|+1.23e+04|1e-07|1E+21');
  assert.equal(sprintf('%5.1s|%.0d|%.3d', ['abc', 0, 7]), '    a||007');
  assert.equal(sprintf('%*d|%-*d|%.*f', [5, 1, 4, 2, 2, 3.14159]), '    1|2   |3.14');
  assert.equal(sprintf('100%%', []), '100%');
  assert.equal(sprintf('%d %d', [1]), '1 %!d(MISSING)');
  assert.equal(sprintf('%d', [1, 'x']), '1%!(EXTRA string=x)');
  assert.equal(sprintf('%z', [1]), '%!z(int=1)');
  assert.equal(sprintf('%d', ['s']), '%!d(string=s)');
  assert.equal(sprintf('%s', [null]), '%!s(<nil>)');
  assert.equal(sprintf('abc%', []), 'abc%!(NOVERB)');
  assert.equal(sprintf('%v %d %s', [[1, 2], [3, 4], ['a', 'b']]), '[1 2] [3 4] [a b]');
  assert.equal(sprintf('%v', [{ b: 1, a: 'x' }]), 'map[a:x b:1]');
  assert.equal(sprintf('%+v', [goStruct({ A: 1, B: 'x' })]), '{A:1 B:x}');
  assert.equal(sprintf('%T %T %T %T %T', [1, 1.5, 's', ['a'], { a: 'b' }]), 'int float64 string []string map[string]string');
  assert.equal(sprintf('%s', [new Error('bad')]), 'bad');
  assert.equal(sprintf('%v', [new (class P { toString() { return 'P!'; } })()]), 'P!');
});

test('sprint / sprintln spacing', () => {
  assert.equal(sprint([1, 2, 'a', 'b', 3, [4]]), '1 2ab3 [4]');
  assert.equal(sprintln(['a', 1, 'b']), 'a 1 b\n');
});

test('formatValue: Go %v of JS values', () => {
  assert.equal(formatValue('s'), 's');
  assert.equal(formatValue(42), '42');
  assert.equal(formatValue(2 ** 60), '1152921504606846976');
  assert.equal(formatValue(null), '<nil>');
  assert.equal(formatValue(['httpd', '-f']), '[httpd -f]');
  assert.equal(formatValue([]), '[]');
  assert.equal(formatValue({}), 'map[]');
  assert.equal(formatValue(new Map([[2, 'b'], [10, 'a']])), 'map[2:b 10:a]');
  assert.equal(formatValue({ '10': 1, '9': 2, b: 3 }), 'map[10:1 9:2 b:3]');
  assert.equal(formatValue(goStruct({ Type: 'layers', Layers: ['sha256:aa'] })), '{layers [sha256:aa]}');
});

test('goQuote: strconv.Quote', () => {
  assert.equal(goQuote('sh -c \'echo "a long…'), '"sh -c \'echo \\"a long…"');
  assert.equal(goQuote('tab\there\\'), '"tab\\there\\\\"');
  assert.equal(goQuote('\x00\x7f\u00a0é世'), '"\\x00\\x7f\\u00a0é世"');
  assert.equal(goQuote('\u{1F600}'), '"\u{1F600}"');
  assert.equal(goQuote('\u200b'), '"\\u200b"');
});

test('goJson: Go encoding/json conventions', () => {
  assert.equal(goJson({ a: '<x>&', b: [1, 2.5, true, null], c: {} }), '{"a":"<x>&","b":[1,2.5,true,null],"c":{}}');
  assert.equal(goJson({ a: '<x>&' }, { escapeHTML: true }), '{"a":"\\u003cx\\u003e\\u0026"}');
  assert.equal(goJson('\u2028\u2029\b\f\n\r\t\x01"\\'), '"\\u2028\\u2029\\b\\f\\n\\r\\t\\u0001\\"\\\\"');
  assert.equal(goJson({ b: 1, a: 2 }), '{"b":1,"a":2}');
  assert.equal(goJson(goMap({ b: 1, a: 2, '10': 3, '9': 4 })), '{"10":3,"9":4,"a":2,"b":1}');
  assert.equal(goJson(new Map([['z', 1], ['a', 2]])), '{"a":2,"z":1}');
  assert.equal(goJson({ skip: undefined, fn: () => 1, keep: 0 }), '{"keep":0}');
  assert.equal(goJson(new Date(Date.UTC(2023, 10, 14, 22, 13, 20, 120))), '"2023-11-14T22:13:20.12Z"');
  assert.equal(goJson({ [GO_MARSHAL_JSON]: () => '{"raw":true}', x: 1 }), '{"raw":true}');
  assert.equal(goJson([]), '[]');
  assert.equal(goJson('\ud800'), '"\\ufffd"');
});

test('goJson with indent matches json.MarshalIndent', () => {
  assert.equal(
    goJson([{ Id: 'x', RepoTags: [], Config: { Labels: {}, Env: ['A=1'] }, Author: 'J <j@x>' }], { indent: '    ' }),
    [
      '[',
      '    {',
      '        "Id": "x",',
      '        "RepoTags": [],',
      '        "Config": {',
      '            "Labels": {},',
      '            "Env": [',
      '                "A=1"',
      '            ]',
      '        },',
      '        "Author": "J <j@x>"',
      '    }',
      ']',
    ].join('\n'),
  );
});

test('goTimeString / rfc3339Nano', () => {
  const d = new Date(Date.UTC(2023, 10, 14, 22, 13, 20));
  assert.equal(goTimeString(d, { utc: true }), '2023-11-14 22:13:20 +0000 UTC');
  assert.equal(goTimeString(new Date(d.getTime() + 500), { utc: true }), '2023-11-14 22:13:20.5 +0000 UTC');
  assert.equal(rfc3339Nano(d), '2023-11-14T22:13:20Z');
  // the date is computed without Date#toISOString (which loads the time zone data): the same text
  // for leap days, ends of centuries and years, the epoch, before it and far from it
  const times = [0, -1, 951782400, 951868799, 4107542399, 4107542400, -62135596800, 253402300799, 253402300800, -62167219200, -62198755200];
  for (let i = 0; i < 2000; i++) times.push(Math.floor((i * 7919.123 - 500) * 86400 * 3.717 + i * 3671));
  for (const t of times) {
    const date = new Date(t * 1000);
    assert.equal(rfc3339Nano(date), date.toISOString().replace(/\.000Z$/, 'Z'), String(t));
  }
  assert.equal(rfc3339Nano(new Date(Date.UTC(2024, 1, 29, 23, 59, 59)), 123456789n), '2024-02-29T23:59:59.123456789Z');
});
