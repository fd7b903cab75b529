package predictor

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// sidecarCommand resolves the argv and working directory of the sidecar.
func (c *Config) sidecarCommand() (argv []string, dir string, err error) {
	argv = append([]string(nil), c.Command...)
	dir = c.Dir
	if len(argv) == 0 {
		var root string
		argv, root, err = detectSidecar()
		if err != nil {
			return nil, "", err
		}
		if dir == "" {
			dir = root
		}
	}
	if c.ModelDir != "" {
		argv = append(argv, "--model", c.ModelDir)
	}
	if c.Variant != "" {
		argv = append(argv, "--variant", c.Variant)
	}
	return append(argv, c.Args...), dir, nil
}

// detectSidecar implements "automatic Python detection": the project's
// virtualenv first, because it is the one `make venv` installs onnxruntime
// into; an `infer` console script on PATH second (a pip-installed sidecar).
func detectSidecar() (argv []string, root string, err error) {
	roots := candidateRoots()
	if py := os.Getenv("SIGMAGATE_PYTHON"); py != "" {
		if !isExecutable(py) {
			return nil, "", fmt.Errorf("predictor: SIGMAGATE_PYTHON=%s is not an executable file; fix or unset it", py)
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

// DetectSidecar reports the argv and working directory automatic detection
// would use when Config.Command is empty (tools such as cmd/gatecheck use it
// to find the same Python).
func DetectSidecar() (argv []string, dir string, err error) { return detectSidecar() }
