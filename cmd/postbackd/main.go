// Command postbackd classifies app events into postback-eligible records and
// delivers them to ad partners. See README.md for the subcommands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// command is one subcommand: its flags are defined on fs by setup, and run
// is called with the parsed flags and a context cancelled on SIGINT/SIGTERM.
type command struct {
	name    string
	summary string
	usage   string
	setup   func(fs *flag.FlagSet) func(ctx context.Context, env *environment) error
}

// environment is what every subcommand gets from main: its streams, so
// tests run commands in-process.
type environment struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	args           []string // positional arguments after the flags
}

var commands = []command{
	runCommand,
	replayCommand,
	devCommand,
	checkConfigCommand,
	explainCommand,
	redriveCommand,
	sendTestCommand,
	eraseCommand,
	versionCommand,
}

func main() {
	// SIGKILL cannot be caught; SIGINT and SIGTERM cancel the context and
	// every stage drains its in-flight batch before exit.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], &environment{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr})
	stop()
	os.Exit(code)
}

// run executes the subcommand named by args[0] and returns the exit code.
func run(ctx context.Context, args []string, env *environment) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		printUsage(env.stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands {
		if c.name != args[0] {
			continue
		}
		fs := flag.NewFlagSet("postbackd "+c.name, flag.ContinueOnError)
		fs.SetOutput(env.stderr)
		fs.Usage = func() {
			fmt.Fprintf(env.stderr, "usage: postbackd %s %s\n\n%s\n\nflags:\n", c.name, c.usage, c.summary)
			fs.PrintDefaults()
		}
		exec := c.setup(fs)
		if err := fs.Parse(args[1:]); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return 0
			}
			return 2
		}
		env.args = fs.Args()
		if err := exec(ctx, env); err != nil {
			if errors.Is(err, errUsage) {
				fs.Usage()
				return 2
			}
			fmt.Fprintf(env.stderr, "postbackd %s: %v\n", c.name, err)
			return 1
		}
		return 0
	}
	fmt.Fprintf(env.stderr, "postbackd: unknown command %q\n\n", args[0])
	printUsage(env.stderr)
	return 2
}

var errUsage = errors.New("usage")

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: postbackd <command> [flags]\n\ncommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-13s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'postbackd <command> --help' for a command's flags.")
}
