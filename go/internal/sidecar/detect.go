package sidecar

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Detect implements "automatic Python detection": the project's
// virtualenv first, because it is the one `make venv` installs onnxruntime
// into; an `infer` console script on PATH second (a pip-installed sidecar).
func Detect() (argv []string, root string, err error) {
	roots := candidateRoots()
	if py := os.Getenv("SIGMAGATE_PYTHON"); py != "" {
		if !isExecutable(py) {
			return nil, "", fmt.Errorf("predictor: SIGMAGATE_PYTHON=%s is not an executable file; fix or unset it", py)
		}
		// The sidecar runs in the project root, where a path relative to
		// the bot's working directory would name another file.
		if strings.ContainsRune(py, filepath.Separator) {
			if py, err = filepath.Abs(py); err != nil {
				return nil, "", fmt.Errorf("predictor: SIGMAGATE_PYTHON: %w", err)
			}
		}
		for _, r := range roots {
			if isProjectRoot(r) {
				return []string{py, "-m", "infer"}, r, nil
			}
		}
		return []string{py, "-m", "infer"}, "", nil
	}
	for _, r := range roots {
		py := filepath.Join(r, ".venv", "bin", "python")
		if isProjectRoot(r) && isExecutable(py) {
			return []string{py, "-m", "infer"}, r, nil
		}
	}
	if p, err := exec.LookPath("infer"); err == nil {
		return []string{p}, "", nil
	}
	return nil, "", errors.New("predictor: cannot find the infer sidecar: no <root>/.venv/bin/python next to an infer/ package " +
		"(searched SIGMAGATE_ROOT, the executable's and the working directory's parents) and no `infer` on PATH; " +
		"run `make venv` in the sigmagate checkout, set SIGMAGATE_ROOT or SIGMAGATE_PYTHON, or set Config.Command")
}

// candidateRoots lists SIGMAGATE_ROOT, then every parent of the executable
// and of the working directory, nearest first.
func candidateRoots() []string {
	var out []string
	if r := os.Getenv("SIGMAGATE_ROOT"); r != "" {
		out = append(out, r)
	}
	var starts []string
	if exe, err := os.Executable(); err == nil {
		if real, err := filepath.EvalSymlinks(exe); err == nil {
			exe = real
		}
		starts = append(starts, filepath.Dir(exe))
	}
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	for _, s := range starts {
		for d := s; ; d = filepath.Dir(d) {
			out = append(out, d)
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	return out
}

func isProjectRoot(dir string) bool {
	st, err := os.Stat(filepath.Join(dir, "infer", "__main__.py"))
	return err == nil && !st.IsDir()
}

func isExecutable(path string) bool {
	st, err := os.Stat(path)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}
