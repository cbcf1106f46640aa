package provision

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// DefaultConfig is where the package installs the edge config.
const DefaultConfig = "/etc/shouwang/edge.yaml"

// Command is `shouwang-edge claim`: it parses args, claims, and writes the
// installer's checklist (or what went wrong and what to do) to out. It never
// writes the secret.
func Command(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("shouwang-edge claim", flag.ContinueOnError)
	fs.SetOutput(out)
	var o Options
	config := os.Getenv("SHOUWANG_EDGE_CONFIG")
	if config == "" {
		config = DefaultConfig
	}
	fs.StringVar(&o.Cloud, "cloud", "", "the cloud's address, like https://cloud.example.org")
	fs.StringVar(&o.Code, "code", "", "the one-time claim code the admin made for this home (XXXX-XXXX)")
	fs.StringVar(&o.ConfigPath, "config", config, "the edge config to update")
	fs.StringVar(&o.GatewayID, "gateway-id", "", "this gateway's ID (default: the config's gateway_id, or a new one written to the config)")
	fs.StringVar(&o.CAFile, "ca", "", "PEM file of the CA that signed the cloud's certificate (default: the system's roots)")
	fs.StringVar(&o.Owner, "owner", "shouwang", "when run as root, the user the daemon runs as, who gets the 0600 secret file")
	fs.DurationVar(&o.Timeout, "timeout", DefaultTimeout, "give up after this long")
	fs.BoolVar(&o.Mosquitto, "mosquitto", false, "also print the gateway's Mosquitto password_file line for the operator (a hash, not the secret)")
	fs.Usage = func() {
		fmt.Fprintln(out, "usage: shouwang-edge claim --cloud https://… --code XXXX-XXXX [--config FILE] [--gateway-id ID] [--ca FILE]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil // -h printed the usage; asking for it is not a failure
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("claim: unexpected argument %q", fs.Arg(0))
	}
	if o.Cloud == "" || o.Code == "" {
		fs.Usage()
		return errors.New("claim: --cloud and --code are required")
	}
	r, err := Claim(ctx, o)
	if err != nil {
		zh, en := Hint(err)
		fmt.Fprintf(out, "✗ 绑定失败 / claim failed\n  %s\n  %s\n", zh, en)
		return fmt.Errorf("claim: %w", err)
	}
	r.Print(out)
	return nil
}

// Print writes the installer's checklist of a successful claim, in zh-CN and
// English.
func (r Result) Print(w io.Writer) {
	if r.HomeAddress != "" {
		fmt.Fprintf(w, "✓ 已绑定到 %s（住户 %s）\n  bound to home %s: %s\n", r.HomeAddress, r.HomeID, r.HomeID, r.HomeAddress)
	} else {
		fmt.Fprintf(w, "✓ 已绑定到住户 %s\n  bound to home %s\n", r.HomeID, r.HomeID)
	}
	id := r.GatewayID
	if r.Generated {
		id += "（新生成，已写入配置 / generated, written to the config）"
	}
	fmt.Fprintf(w, "✓ 网关 ID / gateway ID: %s\n", id)
	owner := ""
	if r.Owner != "" {
		owner = ", " + r.Owner
	}
	fmt.Fprintf(w, "✓ 凭据已保存 / credentials saved: %s (0600%s)\n", r.SecretFile, owner)
	if len(r.Changed) > 0 {
		fmt.Fprintf(w, "✓ 配置已更新 / config updated: %s (%s)\n", r.ConfigFile, strings.Join(r.Changed, ", "))
	} else {
		fmt.Fprintf(w, "✓ 配置无需修改 / config already right: %s\n", r.ConfigFile)
	}
	if r.MosquittoLine != "" {
		fmt.Fprintf(w, "✓ Mosquitto 密码行，发给运维（是散列，不是密码）/ Mosquitto password_file line for the operator (a hash, not the secret):\n  %s\n", r.MosquittoLine)
	}
	fmt.Fprintln(w, "下一步 / next:")
	fmt.Fprintln(w, "  □ 与老人当面核对上面的地址 / read the address above back with the resident")
	if r.MosquittoLine != "" {
		fmt.Fprintln(w, "  □ 运维把上面的行加进 Mosquitto 的 password_file 并 reload / the operator appends the line above to Mosquitto's password_file and reloads")
	}
	fmt.Fprintln(w, "  □ sudo systemctl restart shouwang-edge")
	fmt.Fprintln(w, `  □ journalctl -u shouwang-edge -f   # "connected"`)
}

// ErrIncomplete marks a claim the cloud granted whose files were not all
// written: the code is spent, the message says what is left.
var ErrIncomplete = errors.New("claim incomplete")

// Hint says in zh-CN and English what the installer should do about err.
func Hint(err error) (zh, en string) {
	var ref *Refused
	switch {
	case errors.As(err, &ref):
		switch ref.Status {
		case 404:
			return "绑定码不存在：请核对输入，或请管理员重新生成", "unknown claim code: check it, or ask the admin for a new one"
		case 410:
			return "绑定码已使用或已过期（有效 24 小时，只能用一次）：请管理员重新生成", "the code was used or has expired (codes last 24 hours, once): ask the admin for a new one"
		case 409:
			return "该网关 ID 已绑定：用 --gateway-id 指定本网关自己的 ID；确需重新绑定时请管理员先注销该网关", "this gateway ID is already provisioned: pass --gateway-id with this gateway's own ID, or have an admin revoke it first"
		case 429:
			return "本地址失败次数过多：15 分钟后再试", "too many failed claims from this address: wait 15 minutes"
		case 400:
			return "云端拒绝了请求，原因见下", "the cloud refused the request, see below"
		}
		return "云端出错：稍后重试，或联系运维", "the cloud failed: try again later, or call the operator"
	case errors.Is(err, ErrIncomplete):
		return "绑定码已用掉，但本机文件没有全部写好：按下面的说明处理", "the code is spent but the gateway's files were not all written: do as said below"
	case errors.Is(err, ErrUntrusted):
		return "云端证书不受信任：用 --ca 指定运维提供的 ca.pem，并确认时钟正确（timedatectl）", "the cloud's certificate is not trusted: pass --ca with the operator's ca.pem, and check the clock (timedatectl)"
	case errors.Is(err, ErrUnreachable):
		return "无法连接云端：检查网络和 --cloud 地址后重试", "cannot reach the cloud: check the network and the --cloud address, then run again"
	case errors.Is(err, ErrWrite):
		return "无法读写网关文件：请用 sudo 运行并检查路径（绑定码未被使用）", "cannot read or write the gateway's files: run with sudo and check the path (the code was not used)"
	}
	return "请按下面的说明修正后重试（绑定码未被使用）", "fix what is said below and run again (the code was not used)"
}
