//go:build unix

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// httpTarget is the usual alternative: the model behind an HTTP+JSON service
// on loopback, one request per decision, over keep-alive connections (one per
// goroutine, as net/http pools them).
type httpTarget struct {
	url    string
	client *http.Client
	srvPID int
}

func (h *httpTarget) pid() int { return h.srvPID }

func newHTTPTarget(url string, conc, srvPID int) *httpTarget {
	tr := &http.Transport{
		MaxIdleConns:        conc + 8,
		MaxIdleConnsPerHost: conc + 8,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &httpTarget{url: url, client: &http.Client{Transport: tr, Timeout: 30 * time.Second}, srvPID: srvPID}
}

type httpRequest struct {
	Records [][]float32 `json:"records"`
}

type httpResponse struct {
	P       []float64 `json:"p"`
	Approve []bool    `json:"approve"`
	Error   string    `json:"error"`
}

func (h *httpTarget) call(ctx context.Context, rec []float32) error {
	body, err := json.Marshal(httpRequest{Records: [][]float32{rec}})
	if err != nil {
		return fmt.Errorf("encode request: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("request to %s: %w", h.url, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.client.Do(req)
	if err != nil {
		return fmt.Errorf("post %s: %w", h.url, err)
	}
	defer resp.Body.Close()
	var out httpResponse
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return fmt.Errorf("decode answer from %s: %w", h.url, err)
	}
	// Drain so the connection goes back to the pool.
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK || len(out.P) != 1 {
		return fmt.Errorf("%s answered %d %q with %d probabilities", h.url, resp.StatusCode, out.Error, len(out.P))
	}
	return nil
}

func (h *httpTarget) close() error {
	h.client.CloseIdleConnections()
	return nil
}

// refTarget is the reference design (how the seed worked): a new Python
// process per decision, which imports onnxruntime, loads the model and prints
// one probability.
type refTarget struct {
	argv []string // python script --model DIR
	dir  string
}

func (r *refTarget) call(ctx context.Context, rec []float32) error {
	args := append([]string{}, r.argv[1:]...)
	args = append(args, "--")
	for _, f := range rec {
		args = append(args, strconv.FormatFloat(float64(f), 'g', -1, 32))
	}
	cmd := exec.CommandContext(ctx, r.argv[0], args...)
	cmd.Dir = r.dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("reference process: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	p, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil || p < 0 || p > 1 {
		return fmt.Errorf("reference process printed %q, not a probability", out)
	}
	return nil
}

func (r *refTarget) close() error { return nil }
