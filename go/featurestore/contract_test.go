package featurestore_test

import (
	"encoding/json"
	"os/exec"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/sigmagate/sigmagate/go/featurestore"
	"github.com/sigmagate/sigmagate/go/predictor"
)

// The features `train fit --features` accepts (modelformat/defaults.py KNOWN_FEATURES)
// are exactly the numbers the bot records: the JSON tags of FeatureRecord
// other than symbol, timestamp and the simulated marker. Both sides are read as the programs see
// them — reflection here, the imported module in Python — not parsed as text.
func TestTrainKnownFeaturesAreTheRecordsJSONFields(t *testing.T) {
	argv, root, err := predictor.DetectSidecar()
	if err != nil {
		t.Skipf("no project Python to import train.arguments: %v", err)
	}
	cmd := exec.Command(argv[0], "-c", "import json; from modelformat.defaults import KNOWN_FEATURES; print(json.dumps(list(KNOWN_FEATURES)))")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("import train.arguments with %s: %v", argv[0], err)
	}
	var known []string
	if err := json.Unmarshal(out, &known); err != nil {
		t.Fatalf("KNOWN_FEATURES: %v (%s)", err, out)
	}
	var recorded []string
	rt := reflect.TypeOf(featurestore.FeatureRecord{})
	for i := range rt.NumField() {
		name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
		if name != "symbol" && name != "timestamp" && name != "simulated" && name != "" && name != "-" {
			recorded = append(recorded, name)
		}
	}
	var onlyPython, onlyGo []string
	for _, n := range known {
		if !slices.Contains(recorded, n) {
			onlyPython = append(onlyPython, n)
		}
	}
	for _, n := range recorded {
		if !slices.Contains(known, n) {
			onlyGo = append(onlyGo, n)
		}
	}
	if len(onlyPython)+len(onlyGo) > 0 || len(known) != len(recorded) {
		t.Fatalf("modelformat/defaults.py KNOWN_FEATURES %v and go/featurestore.FeatureRecord's JSON fields %v differ: "+
			"only in Python %v, only in Go %v", known, recorded, onlyPython, onlyGo)
	}
}
