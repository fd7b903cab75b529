//go:build !unix

package predictor

import "errors"

// lowerGroupPriority: there are no process groups to renice here; the
// shadow sidecar runs at normal priority.
func lowerGroupPriority(int, int) error { return errors.ErrUnsupported }
