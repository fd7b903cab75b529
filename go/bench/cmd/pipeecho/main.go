// Command pipeecho copies stdin to stdout unchanged, one read at a time.
//
// It is the latency floor for any stdio sidecar: a benchmark that sends a
// request to pipeecho and reads the same bytes back pays only for the pipes,
// the two wake-ups and the process scheduling, with no decoding or model.
package main

import (
	"errors"
	"io"
	"os"
)

func main() {
	buf := make([]byte, 1<<16)
	for {
		n, err := os.Stdin.Read(buf)
		if n > 0 {
			if _, werr := os.Stdout.Write(buf[:n]); werr != nil {
				os.Exit(1)
			}
		}
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			os.Exit(1)
		}
	}
}
