import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ConfigError } from '../../../node/config/errors.ts'
import { loadConfig } from '../../../node/config/load.ts'

const files: Record<string, string> = {
  'base.yaml':
    'name: from-file\nreceiver:\n  port: 4100\n  host: 10.0.0.1\nmembership:\n  type: static\n  members: [a:1]\n',
  'typo.yaml': 'recever:\n  port: 4100\n',
  'bad.yaml': 'receiver: [unclosed\n',
  'cluster-secret': 'c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA==\n',
  'short-secret': '  too-short  \n',
  'rotation-secret': `\n${'n'.repeat(40)}\n\n  ${'o'.repeat(40)}  \n`,
  'backup.yaml':
    'manager:\n  type: backup\n  terminateOnStartFailure: true\n  accessTimeout: 8000\n  rpcTimeout: 20000\n',
  'backup-bad.yaml': 'manager:\n  terminateOnStartFailure: sometimes\n  accessTimeout: 0\n',
  'interceptors.yaml':
    'channel:\n  interceptors:\n    - type: Gzip\n      minsize: 10\n    - type: Teleport\n',
}
/** Loads with a cluster secret (the default multicast membership needs one) unless `env` says otherwise. */
const load = (argv: string[], env: Record<string, string> = {}) =>
  loadConfig({
    argv,
    env: { CATTERY_CLUSTER_SECRET_FILE: 'cluster-secret', ...env },
    readFile: (p) =>
      files[p] ??
      (() => {
        throw new Error(`ENOENT: ${p}`)
      })(),
  })

function problems(fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${err}`)
    assert.equal(err.code, 'CATTERY_ERR_CONFIG')
    return err.message
  }
  assert.fail('expected a ConfigError')
}

describe('the cluster secret', () => {
  const bare = (argv: string[], env: Record<string, string> = {}) =>
    loadConfig({ argv, env, readFile: (p) => files[p] ?? assert.fail(`ENOENT ${p}`) })

  it('reads the secret from --cluster-secret-file, trimmed, into the channel options', () => {
    const { config, channelOptions } = bare(['--name', 'n', '--cluster-secret-file', 'cluster-secret'])
    assert.equal(config.cluster.secretFile, 'cluster-secret')
    assert.deepEqual(channelOptions.security, { secret: [files['cluster-secret']?.trim()] })
  })

  it('reads the file named by CATTERY_CLUSTER_SECRET_FILE (what the operator sets)', () => {
    const { channelOptions } = bare(['--name', 'n'], { CATTERY_CLUSTER_SECRET_FILE: 'cluster-secret' })
    assert.deepEqual(channelOptions.security?.secret, [files['cluster-secret']?.trim()])
  })

  it('reads every secret of a rotation file, one per line, the primary first', () => {
    const { channelOptions } = bare(['--name', 'n', '--cluster-secret-file', 'rotation-secret'])
    assert.deepEqual(channelOptions.security?.secret, ['n'.repeat(40), 'o'.repeat(40)])
  })

  it('refuses a secret shorter than 32 characters, naming the file and line and not echoing the secret', () => {
    const msg = problems(() => bare(['--name', 'n', '--cluster-secret-file', 'short-secret']))
    assert.match(
      msg,
      /CATTERY_ERR_CLUSTER_SECRET: the secret file short-secret: line 1 holds a secret of 9 characters; at least 32/,
    )
    assert.doesNotMatch(msg, /too-short/)
  })

  it('refuses a secret file it cannot read', () => {
    assert.match(
      problems(() => bare(['--name', 'n', '--cluster-secret-file', 'missing'])),
      /cluster\.secretFile \(from --cluster-secret-file\) = "missing": CATTERY_ERR_CLUSTER_SECRET: cannot read/,
    )
  })

  it('refuses a reachable receiver or multicast membership without a secret, saying how to make one', () => {
    for (const argv of [
      ['--name', 'n'],
      ['--name', 'n', '--receiver-host', '0.0.0.0', '--membership', 'static'],
      ['--name', 'n', '--receiver-host', '10.0.0.5', '--membership', 'static'],
    ]) {
      const msg = problems(() => bare(argv))
      assert.match(msg, /CATTERY_ERR_INSECURE_CHANNEL: the receiver .* is reachable from the network/)
      assert.match(msg, /head -c 32 \/dev\/urandom \| base64 > \/etc\/cattery\/cluster-secret/)
      assert.match(msg, /--cluster-secret-file/)
    }
  })

  it('runs without a secret with --insecure-cluster or CATTERY_INSECURE_CLUSTER=true', () => {
    assert.deepEqual(bare(['--name', 'n', '--insecure-cluster']).channelOptions.security, { insecure: true })
    const { config } = bare(['--name', 'n'], { CATTERY_INSECURE_CLUSTER: 'true' })
    assert.equal(config.cluster.insecure, true)
  })

  it('lets a loopback node with static membership run without a secret', () => {
    for (const host of ['127.0.0.1', '127.0.0.2', 'localhost', '::1']) {
      const { channelOptions } = bare(['--name', 'n', '--receiver-host', host, '--membership', 'static'])
      assert.equal(channelOptions.security, undefined)
    }
  })
})

describe('configuration loading', () => {
  it("uses Tomcat's defaults when nothing is given", () => {
    const { config, channelOptions } = load(['--name', 'n1'])
    assert.equal(config.receiver.port, 4000)
    assert.equal(config.receiver.autoBind, 100)
    assert.equal(config.sender.timeout, 3000)
    assert.equal(config.sender.maxRetryAttempts, 1)
    assert.equal(config.sender.asyncWriteInterval, 10)
    assert.equal(channelOptions.sender.asyncWriteInterval, 10)
    assert.deepEqual(channelOptions.membership, {
      type: 'multicast',
      address: '228.0.0.4',
      port: 45564,
      frequency: 500,
      dropTime: 3000,
      ttl: 1,
      bind: undefined,
    })
    assert.equal(channelOptions.sendOptions, 8)
    assert.deepEqual(
      channelOptions.interceptors.map((i) => i.type),
      ['TcpFailureDetector', 'MessageDispatch'],
    )
  })

  it('takes flags over environment variables over the file over defaults', () => {
    const env = { CATTERY_RECEIVER_PORT: '4200', CATTERY_NAME: 'from-env', CATTERY_RECEIVER_HOST: '10.0.0.2' }
    const { config } = load(['--config', 'base.yaml', '--receiver-port', '4300'], env)
    assert.equal(config.receiver.port, 4300) // flag
    assert.equal(config.name, 'from-env') // env over file
    assert.equal(config.receiver.host, '10.0.0.2') // env over file
    assert.deepEqual(config.membership.members, ['a:1']) // file
    assert.equal(config.membership.pingInterval, 1000) // default
  })

  it("announces the pod's IP (CATTERY_POD_IP) while listening on every interface", () => {
    const { config, channelOptions } = load([], { CATTERY_NAME: 'p-0', CATTERY_POD_IP: '10.244.0.7' })
    assert.equal(config.receiver.advertiseAddress, '10.244.0.7')
    assert.equal(channelOptions.receiver?.advertiseAddress, '10.244.0.7')
  })

  it('turns the JvmRouteBinder off with --jvm-route-binder false', () => {
    assert.equal(load(['--name', 'n1']).config.jvmRouteBinder.enabled, true)
    assert.equal(load(['--name', 'n1', '--jvm-route-binder', 'false']).config.jvmRouteBinder.enabled, false)
  })

  it('has read-your-writes on by default (1000 ms at most), off with --read-your-writes false', () => {
    const { config } = load(['--name', 'n1'])
    assert.equal(config.manager.readYourWrites, true)
    assert.equal(config.manager.readYourWritesTimeout, 1000)
    assert.equal(load(['--name', 'n1', '--read-your-writes', 'false']).config.manager.readYourWrites, false)
  })

  it("takes the BackupManager's settings: backups (1), Tomcat's mapSendOptions (6) and rpcTimeout (15000), antiEntropyInterval (30000)", () => {
    const { config } = load(['--name', 'n1', '--manager', 'backup'])
    assert.equal(config.manager.type, 'backup')
    assert.equal(config.manager.backups, 1)
    assert.equal(config.manager.mapSendOptions, 6)
    assert.equal(config.manager.rpcTimeout, 15_000)
    assert.equal(config.manager.antiEntropyInterval, 30_000)
    const more = load([
      '--name',
      'n1',
      '--manager',
      'backup',
      '--backups',
      '2',
      '--map-send-options',
      'async',
    ])
    assert.equal(more.config.manager.backups, 2)
    assert.equal(more.config.manager.mapSendOptions, 'async')
    assert.throws(() => load(['--name', 'n1', '--map-send-options', 'sometimes']), /manager\.mapSendOptions/)
    assert.throws(() => load(['--name', 'n1', '--backups', '0']), /manager\.backups/)
  })

  it("takes Tomcat's terminateOnStartFailure (false) and accessTimeout (5000 ms), from the file and the flag, and names a bad value", () => {
    const { config } = load(['--name', 'n1', '--manager', 'backup'])
    assert.equal(config.manager.terminateOnStartFailure, false)
    assert.equal(config.manager.accessTimeout, 5000)
    const file = load(['--name', 'n1', '--config', 'backup.yaml']).config.manager
    assert.deepEqual(
      [file.type, file.terminateOnStartFailure, file.accessTimeout, file.rpcTimeout],
      ['backup', true, 8000, 20_000],
    )
    assert.equal(
      load(['--name', 'n1', '--terminate-on-start-failure']).config.manager.terminateOnStartFailure,
      true,
    )
    assert.equal(
      load(['--name', 'n1'], { CATTERY_TERMINATE_ON_START_FAILURE: 'true' }).config.manager
        .terminateOnStartFailure,
      true,
    )
    assert.equal(
      load(['--name', 'n1', '--config', 'backup.yaml', '--terminate-on-start-failure', 'false']).config
        .manager.terminateOnStartFailure,
      false,
    )
    const msg = problems(() => load(['--name', 'n1', '--config', 'backup-bad.yaml']))
    assert.match(msg, /manager\.terminateOnStartFailure \(from config file backup-bad\.yaml\) = "sometimes"/)
    assert.match(msg, /manager\.accessTimeout \(from config file backup-bad\.yaml\) = 0/)
    assert.match(
      problems(() => load(['--name', 'n1', '--terminate-on-start-failure', 'maybe'])),
      /manager\.terminateOnStartFailure \(from --terminate-on-start-failure\) = "maybe"/,
    )
  })

  it('reads the file named by CATTERY_CONFIG and lists from --members', () => {
    const { channelOptions } = load(['--members', 'h1:4000, h2:4001'], { CATTERY_CONFIG: 'base.yaml' })
    assert.deepEqual(channelOptions.membership, {
      type: 'static',
      members: ['h1:4000', 'h2:4001'],
      pingInterval: 1000,
      expireTime: 5000,
    })
  })

  it('parses send options given as names', () => {
    assert.equal(load(['--name', 'n', '--send-options', 'async,ack']).channelOptions.sendOptions, 10)
    assert.equal(load(['--name', 'n', '--send-options', '6']).channelOptions.sendOptions, 6)
  })

  it('names key, source, value and what is allowed for every bad value at once', () => {
    const msg = problems(() =>
      load(['--receiver-port', 'abc', '--membership', 'carrier-pigeon'], { CATTERY_LOG_LEVEL: 'loud' }),
    )
    assert.match(
      msg,
      /receiver\.port \(from --receiver-port\) = "abc": must be an integer between 0 and 65535/,
    )
    assert.match(
      msg,
      /membership\.type \(from --membership\) = "carrier-pigeon": must be one of static, multicast/,
    )
    assert.match(msg, /logLevel \(from CATTERY_LOG_LEVEL\) = "loud": must be one of fatal, error/)
  })

  it('refuses an unknown flag, listing the flags there are', () => {
    assert.match(
      problems(() => load(['--recever-port', '1'])),
      /Unknown option '--recever-port'.*--receiver-port/,
    )
  })

  it('refuses an unknown key in the file with a did-you-mean', () => {
    assert.match(
      problems(() => load(['--config', 'typo.yaml'])),
      /recever \(from config file typo\.yaml\): unknown key 'recever' \(did you mean 'receiver'\?\)/,
    )
  })

  it('checks each interceptor against its own attributes', () => {
    const msg = problems(() => load(['--config', 'interceptors.yaml']))
    assert.match(
      msg,
      /channel\.interceptors\[0\]\.minsize .*unknown key 'minsize' \(did you mean 'minSize'\?\); allowed: type, minSize, maxMessageSize/,
    )
    assert.match(msg, /channel\.interceptors\[1\] .*"Teleport".*type is one of TcpFailureDetector/)
  })

  it('refuses a member that is not host:port, bad send options, and a YAML syntax error', () => {
    assert.match(
      problems(() => load(['--members', 'a:1,justahost'])),
      /membership\.members\[1\] \(from --members\) = "justahost": must be host:port/,
    )
    assert.match(
      problems(() => load(['--send-options', 'async,warp'])),
      /channel\.sendOptions \(from --send-options\).*unknown send option 'warp'/,
    )
    assert.match(
      problems(() => load(['--config', 'bad.yaml'])),
      /config file bad\.yaml.*not valid YAML/,
    )
    assert.match(
      problems(() => load(['--config', 'missing.yaml'])),
      /--config .*"missing\.yaml": cannot read/,
    )
  })

  it('kubernetes membership: fills the API address and namespace a pod provides, names what is missing', () => {
    const inPod = loadConfig({
      argv: ['--membership', 'kubernetes'],
      env: { CATTERY_CLUSTER: 'shop', KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' },
      readFile: (p) => {
        if (p.endsWith('serviceaccount/namespace')) return 'prod\n'
        throw new Error(`ENOENT: ${p}`)
      },
    })
    assert.deepEqual(
      { ...inPod.channelOptions.membership },
      {
        type: 'kubernetes',
        cluster: 'shop',
        namespace: 'prod',
        apiServer: 'https://10.96.0.1:443',
        tokenFile: '/var/run/secrets/kubernetes.io/serviceaccount/token',
        caFile: '/var/run/secrets/kubernetes.io/serviceaccount/ca.crt',
        pingInterval: 1000,
        expireTime: 5000,
      },
    )
    const outside = problems(() => load(['--membership', 'kubernetes']))
    assert.match(outside, /membership\.cluster .*SessionCluster name \(CATTERY_CLUSTER\)/)
    assert.match(outside, /membership\.namespace .*CATTERY_NAMESPACE/)
    assert.match(outside, /membership\.apiServer .*CATTERY_KUBERNETES_API/)
  })
})

describe('admin server configuration', () => {
  const withToken =
    (file: string, content: string) =>
    (argv: string[], env: Record<string, string> = {}) =>
      loadConfig({
        // Loopback static membership: the channel needs no secret (that has tests of its own).
        argv: ['--membership', 'static', '--members', '127.0.0.1:4000', ...argv],
        env,
        readFile: (p) => {
          if (p === file) return content
          throw new Error(`ENOENT: ${p}`)
        },
      })

  it('is closed and hides session values by default', () => {
    const { config } = load(['--name', 'n1'])
    assert.equal(config.admin.open, false)
    assert.equal(config.admin.showSessionValues, false)
    assert.equal(config.admin.token, undefined)
  })

  it('takes --admin-open and --admin-show-session-values without a value, and with one', () => {
    const { config } = load(['--name', 'n1', '--admin-open', '--admin-show-session-values'])
    assert.equal(config.admin.open, true)
    assert.equal(config.admin.showSessionValues, true)
    assert.equal(load(['--admin-open', 'false', '--name', 'n1']).config.admin.open, false)
    assert.equal(load(['--name', 'n1'], { CATTERY_ADMIN_OPEN: 'true' }).config.admin.open, true)
    assert.equal(
      load(['--name', 'n1'], { CATTERY_ADMIN_SHOW_SESSION_VALUES: 'true' }).config.admin.showSessionValues,
      true,
    )
  })

  it('reads admin.tokenFile from CATTERY_ADMIN_TOKEN_FILE and refuses a short or missing one', () => {
    const good = withToken('/run/token', '  long-enough-token\n')
    assert.equal(
      good(['--name', 'n1'], { CATTERY_ADMIN_TOKEN_FILE: '/run/token' }).config.admin.tokenFile,
      '/run/token',
    )
    assert.match(
      problems(() =>
        withToken('/run/token', 'short\n')(['--name', 'n1', '--admin-token-file', '/run/token']),
      ),
      /admin\.tokenFile \(from --admin-token-file\) = "\/run\/token": the token in the file has 5 characters; at least 8/,
    )
    assert.match(
      problems(() => good(['--name', 'n1', '--admin-token-file', '/nope'])),
      /admin\.tokenFile.*cannot read: ENOENT/,
    )
  })

  it('refuses admin.token and admin.tokenFile together', () => {
    const good = withToken('/run/token', 'long-enough-token')
    assert.match(
      problems(() =>
        good(['--name', 'n1', '--admin-token', 'another-token', '--admin-token-file', '/run/token']),
      ),
      /set admin\.token or admin\.tokenFile, not both/,
    )
  })
})

describe('session limits configuration', () => {
  it('has documented defaults for the limits replicated data obeys too', () => {
    const { config } = load(['--name', 'n1'])
    assert.equal(config.session.maxAttributes, 1000)
    assert.equal(config.session.maxValueDepth, 64)
    assert.equal(config.session.maxTimeout, 1440)
    assert.equal(config.manager.maxVersionStep, 1000)
    assert.equal(config.manager.maxClockSkew, 10)
  })

  it('refuses a session timeout beyond session.maxTimeout, and never-expiring sessions under a bound', () => {
    assert.match(
      problems(() => load(['--name', 'n1', '--session-timeout', '2000'])),
      /session\.timeout \(from --session-timeout\) = 2000: must be at most session\.maxTimeout \(1440 minutes\)/,
    )
    assert.match(
      problems(() => load(['--name', 'n1', '--session-timeout=-1'])),
      /need session\.maxTimeout -1/,
    )
  })
})
