var __strataNsCache = {};
function __strataNs(id) {
  var ns = __strataNsCache[id];
  if (ns) return ns;
  var real;
  var load = function () { return real || (real = require(id)); };
  return (__strataNsCache[id] = new Proxy({}, {
    get: function (_, k) { var m = load(); return k === 'default' ? m : m[k]; },
    has: function (_, k) { return k === 'default' || k in load(); },
    ownKeys: function () { return Reflect.ownKeys(load()).concat(['default']).filter(function (k, i, a) { return a.indexOf(k) === i; }); },
    getOwnPropertyDescriptor: function (_, k) { var m = load(); return k === 'default' ? { value: m, enumerable: true, configurable: true } : Object.getOwnPropertyDescriptor(m, k) && { value: m[k], enumerable: true, configurable: true }; },
  }));
}
