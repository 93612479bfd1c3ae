package config

import (
	"fmt"
	"os"
	"strings"
)

// Secret reads a secret (a password, a signing key, a token) from the
// environment variable env or, when env is "", from file, so that it never
// sits in the configuration file. With neither named it returns "". An
// unset variable is an error; callers for which an empty secret is as bad
// check the value. The file's surrounding white space is dropped.
func Secret(env, file string) (string, error) {
	switch {
	case env != "":
		v, ok := os.LookupEnv(env)
		if !ok {
			return "", fmt.Errorf("environment variable %s is not set", env)
		}
		return v, nil
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", err
		}
		return strings.TrimSpace(string(b)), nil
	}
	return "", nil
}
