package manifest

import (
	"encoding/json"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// The keys each typed level knows. A key equal to one of them except for
// case is refused (encoding/json would read "Default_Threshold" as
// default_threshold); any other unknown key is allowed and ignored, so a
// newer writer's additions do not break this reader. The lists equal
// modelformat's typed fields: the conformance cases derive one case per key.
var (
	topKeys = []string{"schema", "version", "created", "model_family", "features",
		"input_name", "output_name", "default_threshold", OptIn, "symbol_thresholds",
		"serve_variant", "variants", "feature_stats", "label", "data", "training", "metrics",
		"parity", "gates", "comparison", "libraries", "check_vectors", "reference"}
	variantKeys   = []string{"file", "sha256", "bytes", "accepted", "reason"}
	fileRefKeys   = []string{"file", "sha256", "rows"}
	referenceKeys = []string{"features", "approval_rate", "approval_threshold", "rows"}
	binsKeys      = []string{"edges", "fractions"}
	statsKeys     = []string{"mean", "std", "min", "max", "q001", "q999"}
	labelKeys     = []string{"lookahead_s", "threshold_sigma", "min_dist_sigma", "min_std"}
	recordKeys    = []string{"data", "training", "metrics", "parity", "gates", "comparison", "libraries"}
)

// OptIn is the manifest key that allows a threshold of exactly 0 (approve
// every trade) or 1 (approve none): without it such a threshold is a mistake.
const OptIn = "allow_extreme_thresholds"

var sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)

// validateTree applies docs/MODEL_FORMAT.md's rules to a decoded manifest,
// in modelformat's order, and returns the first fault.
func validateTree(v any) error {
	d, ok := v.(*object)
	if !ok {
		return fault("", "manifest must be a JSON object")
	}
	if err := exactKeys(d, topKeys, ""); err != nil {
		return err
	}
	schema, err := needInt(d, "schema", "")
	if err != nil {
		return err
	}
	if schema != Schema {
		return fault("schema", "schema %d, this build reads %d", schema, Schema)
	}
	if err := needName(d, "version"); err != nil {
		return err
	}
	if err := features(d); err != nil {
		return err
	}
	for _, k := range []string{"input_name", "output_name"} {
		if err := needName(d, k); err != nil {
			return err
		}
	}
	optIn, err := optKind(d, OptIn, "", "boolean")
	if err != nil {
		return err
	}
	allow := optIn == true
	t, err := need(d, "default_threshold", "")
	if err != nil {
		return err
	}
	if err := threshold(t, allow, "default_threshold"); err != nil {
		return err
	}
	sym, err := optKind(d, "symbol_thresholds", "", "object")
	if err != nil {
		return err
	}
	if o, ok := sym.(*object); ok {
		if _, empty := o.get(""); empty {
			return fault("symbol_thresholds", "field 'symbol_thresholds' has an empty symbol")
		}
		for _, k := range o.keys {
			if err := threshold(o.vals[k], allow, "symbol_thresholds."+k); err != nil {
				return err
			}
		}
	}
	vs, err := needKind(d, "variants", "", "object")
	if err != nil {
		return err
	}
	variants := vs.(*object)
	for _, k := range variants.keys {
		if err := variant(variants.vals[k], "variants."+k+"."); err != nil {
			return err
		}
	}
	serve, err := needKind(d, "serve_variant", "", "string")
	if err != nil {
		return err
	}
	for _, k := range []string{"created", "model_family"} {
		if _, err := optKind(d, k, "", "string"); err != nil {
			return err
		}
	}
	stats, err := optKind(d, "feature_stats", "", "object")
	if err != nil {
		return err
	}
	if o, ok := stats.(*object); ok {
		for _, k := range o.keys {
			if err := plainNumbers(o.vals[k], statsKeys, "feature_stats."+k+"."); err != nil {
				return err
			}
		}
	}
	if label, err := optKind(d, "label", "", "object"); err != nil {
		return err
	} else if label != nil {
		if err := plainNumbers(label, labelKeys, "label."); err != nil {
			return err
		}
	}
	if cv, ok := d.get("check_vectors"); ok && cv != nil {
		if err := fileRef(cv, "check_vectors."); err != nil {
			return err
		}
	}
	if ref, ok := d.get("reference"); ok && ref != nil {
		if err := reference(ref, "reference."); err != nil {
			return err
		}
	}
	for _, k := range recordKeys {
		if _, err := optKind(d, k, "", "object"); err != nil {
			return err
		}
	}
	// Rule 2: serve_variant names a variant, and train accepted it.
	name := serve.(string)
	sv, ok := variants.get(name)
	if !ok {
		return fault("serve_variant", "serve_variant %q is not among the variants %q", name, variants.keys)
	}
	if acc, _ := sv.(*object).get("accepted"); acc != true {
		return fault("variants."+name+".accepted", "serve_variant %q was rejected by train, not serving it", name)
	}
	return nil
}

func exactKeys(d *object, known []string, at string) error {
	for _, k := range d.keys {
		for _, want := range known {
			if k != want && strings.EqualFold(k, want) {
				return fault(at+k, "key %q differs from the known key %q only in case; keys are case-sensitive: rename or remove it", at+k, at+want)
			}
		}
	}
	return nil
}

func need(d *object, key, at string) (any, error) {
	v, ok := d.get(key)
	if !ok {
		return nil, fault(at+key, "missing key %q", at+key)
	}
	if v == nil {
		return nil, fault(at+key, "field %q is null; it is required", at+key)
	}
	return v, nil
}

// kind checks v's JSON type: "object", "array", "string", "boolean",
// "integer" or "number" (an integer is a number too).
func kind(v any, want, name string) error {
	got := typeName(v)
	if got == want || (want == "number" && got == "integer") {
		return nil
	}
	return fault(name, "field %q has the wrong type (%s)", name, got)
}

func needKind(d *object, key, at, want string) (any, error) {
	v, err := need(d, key, at)
	if err != nil {
		return nil, err
	}
	return v, kind(v, want, at+key)
}

// optKind: absent or null is unset (nil, nil).
func optKind(d *object, key, at, want string) (any, error) {
	v, _ := d.get(key)
	if v == nil {
		return nil, nil
	}
	return v, kind(v, want, at+key)
}

func needInt(d *object, key, at string) (int64, error) {
	v, err := needKind(d, key, at, "integer")
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(string(v.(json.Number)), 10, 64)
}

func needName(d *object, key string) error {
	v, err := needKind(d, key, "", "string")
	if err != nil {
		return err
	}
	if v == "" {
		return fault(key, "field %q is empty", key)
	}
	return nil
}

// number is a finite JSON number (1e400 parses to +Inf: not one).
func number(v any, name string) (float64, error) {
	if err := kind(v, "number", name); err != nil {
		return 0, err
	}
	f, err := strconv.ParseFloat(string(v.(json.Number)), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, fault(name, "field %q is %s, not a finite number", name, v)
	}
	return f, nil
}

func optNumber(d *object, key, at string) error {
	if v, _ := d.get(key); v != nil {
		_, err := number(v, at+key)
		return err
	}
	return nil
}

func threshold(v any, allow bool, name string) error {
	t, err := number(v, name)
	if err != nil {
		return err
	}
	if t < 0 || t > 1 {
		return fault(name, "field %q %v is outside [0, 1]", name, t)
	}
	if (t == 0 || t == 1) && !allow {
		what := "approves every trade"
		if t == 1 {
			what = "approves no trade"
		}
		return fault(name, "field %q is %v, which %s; if that is meant, set %q: true in the manifest", name, t, what, OptIn)
	}
	return nil
}

func features(d *object) error {
	v, err := needKind(d, "features", "", "array")
	if err != nil {
		return err
	}
	list := v.([]any)
	seen := make(map[string]bool, len(list))
	for _, f := range list {
		s, ok := f.(string)
		if !ok || s == "" || seen[s] {
			return fault("features", "field 'features' must be distinct non-empty names, got %v", list)
		}
		seen[s] = true
	}
	if len(list) == 0 {
		return fault("features", "field 'features' must be distinct non-empty names, got []")
	}
	return nil
}

func asObject(v any, at string) (*object, error) {
	name := strings.TrimSuffix(at, ".")
	if err := kind(v, "object", name); err != nil {
		return nil, err
	}
	return v.(*object), nil
}

func variant(v any, at string) error {
	d, err := asObject(v, at)
	if err != nil {
		return err
	}
	if err := exactKeys(d, variantKeys, at); err != nil {
		return err
	}
	if err := plainFileKey(d, at); err != nil {
		return err
	}
	if err := sha256Key(d, at); err != nil {
		return err
	}
	if _, err := optKind(d, "bytes", at, "integer"); err != nil {
		return err
	}
	if _, err := needKind(d, "accepted", at, "boolean"); err != nil {
		return err
	}
	_, err = optKind(d, "reason", at, "string")
	return err
}

func fileRef(v any, at string) error {
	d, err := asObject(v, at)
	if err != nil {
		return err
	}
	if err := exactKeys(d, fileRefKeys, at); err != nil {
		return err
	}
	if err := plainFileKey(d, at); err != nil {
		return err
	}
	if err := sha256Key(d, at); err != nil {
		return err
	}
	_, err = optKind(d, "rows", at, "integer")
	return err
}

func reference(v any, at string) error {
	d, err := asObject(v, at)
	if err != nil {
		return err
	}
	if err := exactKeys(d, referenceKeys, at); err != nil {
		return err
	}
	fv, err := needKind(d, "features", at, "object")
	if err != nil {
		return err
	}
	feats := fv.(*object)
	for _, k := range feats.keys {
		if err := bins(feats.vals[k], at+"features."+k+"."); err != nil {
			return err
		}
	}
	for _, k := range []string{"approval_rate", "approval_threshold"} {
		if err := optNumber(d, k, at); err != nil {
			return err
		}
	}
	_, err = optKind(d, "rows", at, "integer")
	return err
}

func bins(v any, at string) error {
	d, err := asObject(v, at)
	if err != nil {
		return err
	}
	if err := exactKeys(d, binsKeys, at); err != nil {
		return err
	}
	n := map[string]int{}
	for _, k := range binsKeys {
		lv, err := needKind(d, k, at, "array")
		if err != nil {
			return err
		}
		for _, x := range lv.([]any) {
			if _, err := number(x, at+k); err != nil {
				return err
			}
		}
		n[k] = len(lv.([]any))
	}
	if n["fractions"] == 0 || n["edges"] != n["fractions"]+1 {
		name := strings.TrimSuffix(at, ".")
		return fault(name, "field %q: %d edges for %d fractions (want one more edge than fractions)", name, n["edges"], n["fractions"])
	}
	return nil
}

// plainNumbers checks an untyped block's known keys: exact case, finite
// numbers when set.
func plainNumbers(v any, known []string, at string) error {
	d, err := asObject(v, at)
	if err != nil {
		return err
	}
	if err := exactKeys(d, known, at); err != nil {
		return err
	}
	for _, k := range known {
		if err := optNumber(d, k, at); err != nil {
			return err
		}
	}
	return nil
}

func plainFileKey(d *object, at string) error {
	v, err := needKind(d, "file", at, "string")
	if err != nil {
		return err
	}
	if err := plainFile(v.(string)); err != nil {
		return fault(at+"file", "field %q: %v", at+"file", err)
	}
	return nil
}

func sha256Key(d *object, at string) error {
	v, err := needKind(d, "sha256", at, "string")
	if err != nil {
		return err
	}
	if !sha256Hex.MatchString(v.(string)) {
		return fault(at+"sha256", "field %q must be 64 lowercase hex digits (sha256sum's output), got %q; write it in lowercase, in full", at+"sha256", v)
	}
	return nil
}
