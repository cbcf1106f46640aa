package registry

import (
	"golang.org/x/crypto/bcrypt"

	"github.com/shouwang-care/shouwang/cloud/credential"
)

// The cheapest password cost: the default under -race takes seconds per login.
func init() { credential.BcryptCost = bcrypt.MinCost }
