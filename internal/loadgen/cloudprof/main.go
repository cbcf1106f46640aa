// Command cloudprof is shouwang-cloud (--config only) writing a CPU profile of its
// whole life to $SHOUWANG_CPUPROFILE_DIR/cloud-<pid>.pprof: give it to
// shouwang-bench-telegraf or shouwang-load as --cloud-bin to profile the cloud under
// load (docs/benchmarks.md, "Shouwang vs Telegraf"). Benchmark use only.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"syscall"

	"github.com/shouwang-care/shouwang/cloud/config"
	"github.com/shouwang-care/shouwang/cloud/service"
)

func main() {
	fs := flag.NewFlagSet("cloudprof", flag.ExitOnError)
	path := fs.String("config", "", "")
	fs.Parse(os.Args[1:])
	if d := os.Getenv("SHOUWANG_CPUPROFILE_DIR"); d != "" {
		f, err := os.Create(filepath.Join(d, fmt.Sprintf("cloud-%d.pprof", os.Getpid())))
		if err == nil {
			pprof.StartCPUProfile(f)
			defer func() { pprof.StopCPUProfile(); f.Close() }()
		}
	}
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, err := service.New(ctx, cfg, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := s.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
}
