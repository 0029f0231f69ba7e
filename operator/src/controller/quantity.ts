// Kubernetes resource quantities in the API server's canonical form (apimachinery
// resource.Quantity.String()), so that desired objects compare equal to what the server stores
// and a no-op resync writes nothing ("1000m" is stored as "1", "1024Mi" as "1Gi", "0.5" as "500m").
//
// Rules (CanonicalizeBytes): the value is kept to nano precision (rounded up); the format follows
// the suffix the user wrote: binary (Ki, Mi, …) stays binary when the value is an integer ≥ 1024
// (largest power of 1024 that divides it), else it becomes decimal; decimal SI (n, u, m, "", k,
// M, G, T, P, E) uses the largest exponent (a multiple of 3) that leaves an integer mantissa;
// decimal exponent (1e3) the same with an `e<exp>` suffix. Anything we cannot parse, or beyond
// the exa range, is returned unchanged (the API server will have rejected or normalised it).

const DEC_SUFFIX: Record<string, number> = { n: -9, u: -6, m: -3, "": 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
const BIN_SUFFIX: Record<string, number> = { Ki: 1, Mi: 2, Gi: 3, Ti: 4, Pi: 5, Ei: 6 };
const DEC_BY_EXP = new Map(Object.entries(DEC_SUFFIX).map(([s, e]) => [e, s]));
const BIN_BY_EXP = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];

type Format = "DecimalSI" | "BinarySI" | "DecimalExponent";

/** Parse to nano-units (value × 10⁹, rounded up in magnitude) and the format; undefined if invalid. */
function parse(q: string): { nanos: bigint; negative: boolean; format: Format } | undefined {
  const m = /^([+-]?)(\d+(?:\.\d*)?|\.\d+)([eE][+-]?\d+|[KMGTPE]i|[numkMGTPE]?)$/.exec(q.trim());
  if (!m) return undefined;
  const [, sign, num, suffix] = m as unknown as [string, string, string, string];
  const [intPart = "", fracPart = ""] = num.split(".");
  // value = digits × 10^(-fracLen)
  let digits = BigInt((intPart || "0") + fracPart);
  let exp10 = -fracPart.length;
  let mul2 = 0n; // power of 1024
  let format: Format;
  if (suffix in BIN_SUFFIX) {
    format = "BinarySI";
    mul2 = BigInt(BIN_SUFFIX[suffix]!);
  } else if (/^[eE]/.test(suffix)) {
    format = "DecimalExponent";
    exp10 += Number(suffix.slice(1));
  } else {
    format = "DecimalSI";
    exp10 += DEC_SUFFIX[suffix]!;
  }
  digits *= 1024n ** mul2;
  // to nanos: × 10^(exp10 + 9), rounding up when digits are lost
  const shift = exp10 + 9;
  let nanos: bigint;
  if (shift >= 0) nanos = digits * 10n ** BigInt(shift);
  else {
    const d = 10n ** BigInt(-shift);
    nanos = digits / d + (digits % d === 0n ? 0n : 1n);
  }
  return { nanos, negative: sign === "-" && nanos !== 0n, format };
}

/** The canonical string of a quantity (what the API server stores and returns). */
export function canonicalQuantity(q: string): string {
  const p = parse(q);
  if (!p) return q;
  const { nanos, negative } = p;
  if (nanos === 0n) return "0";
  const sign = negative ? "-" : "";
  let format = p.format;
  const nano = 1_000_000_000n;
  if (format === "BinarySI") {
    if (nanos < 1024n * nano || nanos % nano !== 0n) format = "DecimalSI";
    else {
      let v = nanos / nano;
      let e = 0;
      while (e < 6 && v % 1024n === 0n) {
        v /= 1024n;
        e++;
      }
      return `${sign}${v}${BIN_BY_EXP[e]}`;
    }
  }
  // decimal: strip factors of 10, then lower the exponent to a multiple of 3
  let m = nanos;
  let e = -9;
  while (m % 10n === 0n) {
    m /= 10n;
    e++;
  }
  const r = ((e % 3) + 3) % 3;
  m *= 10n ** BigInt(r);
  e -= r;
  if (format === "DecimalExponent") return `${sign}${m}${e === 0 ? "" : `e${e}`}`;
  const suffix = DEC_BY_EXP.get(e);
  return suffix === undefined ? q : `${sign}${m}${suffix}`;
}

/** A quantity map (requests/limits) with every value canonical. */
export function canonicalQuantities(map: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(map).map(([k, v]) => [k, canonicalQuantity(v)]));
}
