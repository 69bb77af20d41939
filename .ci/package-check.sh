#!/usr/bin/env bash
# The path a user takes, checked end to end: packs the libraries into a local folder feed (no warnings allowed),
# makes a fresh project with `dotnet new web`, adds PartitionedHosting.Hosting from that feed, calls
# builder.AddPartitionedHosting() and serves a request over Kestrel; and the package's analyzers report a blocking
# endpoint in that project. Exits non-zero when a step fails.
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 CI=true

command -v curl >/dev/null || { apt-get update -qq && apt-get install -y -qq curl >/dev/null; }

work=$(mktemp -d)
pid=
cleanup() {
  [[ -z "$pid" ]] || kill "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

dotnet pack Hosting.sln -c Release -o "$work/feed" -v q --nologo >"$work/pack.log" 2>&1 || { cat "$work/pack.log"; exit 1; }
if grep -E ': warning ' "$work/pack.log"; then
  echo "FAIL: dotnet pack printed warnings"
  exit 1
fi
version=$(dotnet msbuild src/Hosting -getProperty:Version)
for id in PartitionedHosting.Middleware PartitionedHosting.Hosting PartitionedHosting.Yarp; do
  for kind in nupkg snupkg; do
    [[ -f "$work/feed/$id.$version.$kind" ]] || { echo "FAIL: $id.$version.$kind was not packed"; exit 1; }
  done
done
echo "ok:   packed $version: $(cd "$work/feed" && echo *)"
for id in PartitionedHosting.Middleware PartitionedHosting.Hosting PartitionedHosting.Yarp; do
  python3 - "$work/feed/$id.$version.nupkg" <<'CHECK' || exit 1
import re, sys, zipfile
package = zipfile.ZipFile(sys.argv[1])
nuspec = package.read(next(n for n in package.namelist() if n.endswith('.nuspec'))).decode()
wanted = {
    'licence expression': r'<license type="expression">MIT</license>',
    'readme': r'<readme>README.md</readme>',
    'project URL': r'<projectUrl>https://',
    'repository and commit': r'<repository type="git" url="https://[^"]+"[^>]* commit="[0-9a-f]{40}"',
    'description': r'<description>.{20,}</description>',
    'tags': r'<tags>.+</tags>',
}
missing = [what for what, pattern in wanted.items() if not re.search(pattern, nuspec)]
missing += [f'{name} in the package' for name in ('README.md', 'LICENSE') if name not in package.namelist()]
if missing:
    print(f"FAIL: {sys.argv[1].split('/')[-1]} lacks: {', '.join(missing)}")
    sys.exit(1)
CHECK
done
echo "ok:   every package has its licence, readme, project URL, repository commit, description and tags"
for dll in PartitionedHosting.Analyzers.dll PartitionedHosting.Analyzers.CodeFixes.dll; do
  python3 -c 'import sys, zipfile; sys.exit(0 if sys.argv[2] in zipfile.ZipFile(sys.argv[1]).namelist() else 1)' \
    "$work/feed/PartitionedHosting.Hosting.$version.nupkg" "analyzers/dotnet/cs/$dll" || { echo "FAIL: $dll is not in analyzers/dotnet/cs of PartitionedHosting.Hosting"; exit 1; }
done
echo "ok:   PartitionedHosting.Hosting carries the analyzers and their code fixes (analyzers/dotnet/cs)"

# A fresh project, restored into a package folder of its own so that nothing cached stands in for the feed.
export NUGET_PACKAGES="$work/packages"
dotnet new web -o "$work/app" -n App --framework net10.0 --no-restore >/dev/null
cat >"$work/app/nuget.config" <<CONFIG
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <packageSources>
    <clear />
    <add key="local" value="$work/feed" />
    <add key="nuget.org" value="https://api.nuget.org/v3/index.json" />
  </packageSources>
  <!-- Our packages come from the folder just packed, nothing else stands in for them. -->
  <packageSourceMapping>
    <packageSource key="local">
      <package pattern="PartitionedHosting.*" />
    </packageSource>
    <packageSource key="nuget.org">
      <package pattern="*" />
    </packageSource>
  </packageSourceMapping>
</configuration>
CONFIG
dotnet add "$work/app" package PartitionedHosting.Hosting --version "$version" >"$work/add.log" 2>&1 || { cat "$work/add.log"; exit 1; }
cat >"$work/app/Program.cs" <<'PROGRAM'
using PartitionedHosting;

var builder = WebApplication.CreateBuilder(args);
builder.AddPartitionedHosting();

var app = builder.Build();
app.MapGet("/", (IPartitionContext partition) => $"partition {partition.Id} of {partition.PartitionCount}, {partition.Mode}");
app.Run();
PROGRAM
dotnet build "$work/app" -c Release -v q --nologo >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }

# The analyzers come with the package: a blocking endpoint is reported (PH0001), and its build still succeeds.
cp "$work/app/Program.cs" "$work/Program.cs"
sed -i 's|^app.Run();|app.MapGet("/sleep", () => { Thread.Sleep(10); return "slept"; });\napp.Run();|' "$work/app/Program.cs"
dotnet build "$work/app" -c Release -v q --nologo --no-incremental >"$work/analyzers.log" 2>&1 || { cat "$work/analyzers.log"; exit 1; }
if grep -q 'warning PH0001' "$work/analyzers.log"; then
  echo "ok:   the package's analyzers report a blocking endpoint: $(grep -o 'warning PH0001: [^[]*' "$work/analyzers.log" | head -1 | cut -c1-90)..."
else
  echo "FAIL: no PH0001 for Thread.Sleep in an endpoint"; cat "$work/analyzers.log"; exit 1
fi
cp "$work/Program.cs" "$work/app/Program.cs"
dotnet build "$work/app" -c Release -v q --nologo >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null || echo 5190)
dotnet "$work/app/bin/Release/net10.0/App.dll" --urls "http://127.0.0.1:$port" \
  --PartitionedHosting:PartitionCount=2 --PartitionedHosting:Mode=SingleThreaded >"$work/app.log" 2>&1 &
pid=$!
answer=$(curl -sf --retry 30 --retry-delay 1 --retry-all-errors --max-time 2 "http://127.0.0.1:$port/") || { echo "FAIL: the app did not answer"; cat "$work/app.log"; exit 1; }
if [[ "$answer" =~ ^partition\ [01]\ of\ 2,\ SingleThreaded$ ]]; then
  echo "ok:   a new 'dotnet new web' app with PartitionedHosting.Hosting $version answered: $answer"
else
  echo "FAIL: unexpected answer: $answer"
  exit 1
fi
