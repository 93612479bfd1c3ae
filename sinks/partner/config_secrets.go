package partner

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/postbackd/postbackd/processors/platform/config"
)

// readSecrets reads every partner's signing secret into its Secret field,
// so that New signs with what was checked and does not read it again. It
// reports, as a *FieldError at the line of secret_env or secret_file and
// wrapping ErrMissingSecret, each secret New would refuse or silently not
// use: a secret_env that is unset or empty, a secret_file that is missing,
// unreadable or empty, and a "whsec_" secret that is not base64 (or holds
// no key). file and node are those given to ParseConfig. No message holds
// a secret's value.
func readSecrets(file string, node *yaml.Node, c *Config) []error {
	var errs []error
	for i := range c.Partners {
		p := &c.Partners[i]
		if p.Secret != "" || (p.SecretEnv == "" && p.SecretFile == "") {
			continue
		}
		field := fmt.Sprintf("partners[%d].secret_env", i)
		if p.SecretEnv == "" {
			field = fmt.Sprintf("partners[%d].secret_file", i)
		}
		secret, msg := readPartnerSecret(*p)
		if msg == "" {
			if _, err := signingKey(secret); err != nil {
				msg = "whsec_ secret is not base64: a Standard Webhooks secret is whsec_ and the key in base64"
			} else if secret == "whsec_" {
				msg = "whsec_ secret holds no key"
			}
		}
		if msg != "" {
			line := 0
			if n := nodeAt(node, field); n != nil {
				line = n.Line
			}
			errs = append(errs, &FieldError{File: file, Line: line, Field: "sink." + field, Msg: msg, Err: ErrMissingSecret})
			continue
		}
		p.Secret = secret
	}
	return errs
}

// readPartnerSecret reads p's secret, or says what is wrong with it. An
// empty value is wrong, not "unsigned": the operator named a secret, and a
// partner that verifies signatures would refuse every postback.
func readPartnerSecret(p PartnerConfig) (string, string) {
	if p.SecretEnv != "" && p.SecretFile != "" {
		return "", "" // compile reports both set; New refuses it
	}
	v, err := config.Secret(p.SecretEnv, p.SecretFile)
	switch {
	case err != nil && p.SecretEnv != "":
		return "", err.Error()
	case err != nil:
		return "", fmt.Sprintf("cannot read the secret: %v", unwrapPath(err))
	case v == "" && p.SecretEnv != "":
		return "", fmt.Sprintf("environment variable %s is empty", p.SecretEnv)
	case v == "":
		return "", fmt.Sprintf("%s is empty", p.SecretFile)
	}
	return v, ""
}

// unwrapPath shortens "open /x: no such file or directory" to "/x: no such
// file or directory".
func unwrapPath(err error) string {
	if pe := (*os.PathError)(nil); errors.As(err, &pe) {
		return pe.Path + ": " + pe.Err.Error()
	}
	return strings.TrimSpace(err.Error())
}
