"""Ethereum JSON-RPC encodings of py-evm blocks, transactions, receipts and logs, shaped
as geth returns them so that web3.py and other tools need nothing special."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import rlp
from eth._utils.address import generate_contract_address
from eth.abc import (
    BlockAPI,
    BlockHeaderAPI,
    LegacyTransactionFieldsAPI,
    ReceiptAPI,
    SignedTransactionAPI,
)
from eth_utils.address import to_checksum_address
from eth_utils.hexadecimal import encode_hex

JSON = dict[str, Any]


def quantity(value: int) -> str:
    return hex(value)


def data(value: bytes) -> str:
    return "0x" + bytes(value).hex()


def address(value: bytes) -> str:
    return to_checksum_address(value)


def base_fee(header: BlockHeaderAPI) -> int:
    """The header's EIP-1559 base fee: every devnet block follows London rules, so has one."""
    if header.base_fee_per_gas is None:
        raise ValueError(f"block {header.block_number} has no base fee (a pre-London header)")
    return header.base_fee_per_gas


def header_json(header: BlockHeaderAPI, total_difficulty: int, size: int) -> JSON:
    return {
        "number": quantity(header.block_number),
        "hash": data(header.hash),
        "parentHash": data(header.parent_hash),
        "nonce": data(header.nonce),
        "mixHash": data(header.mix_hash),
        "sha3Uncles": data(header.uncles_hash),
        "logsBloom": data(header.bloom.to_bytes(256, "big")),
        "transactionsRoot": data(header.transaction_root),
        "stateRoot": data(header.state_root),
        "receiptsRoot": data(header.receipt_root),
        "miner": address(header.coinbase),
        "difficulty": quantity(header.difficulty),
        "totalDifficulty": quantity(total_difficulty),
        "extraData": data(header.extra_data),
        "size": quantity(size),
        "gasLimit": quantity(header.gas_limit),
        "gasUsed": quantity(header.gas_used),
        "timestamp": quantity(header.timestamp),
        "baseFeePerGas": quantity(base_fee(header)),
        "uncles": [],
    }


def block_json(block: BlockAPI, total_difficulty: int, full_transactions: bool) -> JSON:
    result = header_json(block.header, total_difficulty, len(rlp.encode(block)))
    if full_transactions:
        result["transactions"] = [
            transaction_json(tx, block.header, index) for index, tx in enumerate(block.transactions)
        ]
    else:
        result["transactions"] = [data(tx.hash) for tx in block.transactions]
    return result


def transaction_json(
    tx: SignedTransactionAPI, header: BlockHeaderAPI | None, index: int | None
) -> JSON:
    type_id = tx.type_id if tx.type_id is not None else 0
    # A legacy transaction's v folds in the chain id; py-evm's documented way to read it is
    # to cast to LegacyTransactionFieldsAPI once the type says legacy.
    v = tx.y_parity if type_id else cast(LegacyTransactionFieldsAPI, tx).v
    result: JSON = {
        "hash": data(tx.hash),
        "type": quantity(type_id),
        "nonce": quantity(tx.nonce),
        "from": address(tx.sender),
        "to": address(tx.to) if tx.to else None,
        "value": quantity(tx.value),
        "gas": quantity(tx.gas),
        "input": data(tx.data),
        "r": quantity(tx.r),
        "s": quantity(tx.s),
        "v": quantity(v),
        "blockHash": data(header.hash) if header else None,
        "blockNumber": quantity(header.block_number) if header else None,
        "transactionIndex": quantity(index) if index is not None else None,
    }
    # geth and the spec's TransactionInfo: null while pending, like the other block fields.
    result["blockTimestamp"] = quantity(header.timestamp) if header else None
    if not type_id and v >= 35:  # EIP-155 legacy: geth reports the chain id too
        result["chainId"] = quantity((v - 35) // 2)
    if type_id:
        if tx.chain_id is None:  # EIP-2718 typed transactions always carry a chain id
            raise ValueError(f"typed transaction {data(tx.hash)} has no chain id")
        result["chainId"] = quantity(tx.chain_id)
        result["yParity"] = quantity(tx.y_parity)
        result["accessList"] = [
            {"address": address(a), "storageKeys": [data(k.to_bytes(32, "big")) for k in keys]}
            for a, keys in tx.access_list
        ]
    if type_id == 2:
        result["maxFeePerGas"] = quantity(tx.max_fee_per_gas)
        result["maxPriorityFeePerGas"] = quantity(tx.max_priority_fee_per_gas)
    result["gasPrice"] = quantity(
        effective_gas_price(tx, header.base_fee_per_gas if header else None)
    )
    return result


def effective_gas_price(tx: SignedTransactionAPI, base_fee: int | None) -> int:
    if base_fee is None:
        return int(tx.max_fee_per_gas)
    return int(min(tx.max_fee_per_gas, base_fee + tx.max_priority_fee_per_gas))


def receipt_json(
    tx: SignedTransactionAPI,
    receipt: ReceiptAPI,
    header: BlockHeaderAPI,
    index: int,
    previous_cumulative_gas: int,
    first_log_index: int,
) -> JSON:
    contract = None
    if not tx.to:
        contract = address(generate_contract_address(tx.sender, tx.nonce))
    return {
        "transactionHash": data(tx.hash),
        "transactionIndex": quantity(index),
        "blockHash": data(header.hash),
        "blockNumber": quantity(header.block_number),
        "from": address(tx.sender),
        "to": address(tx.to) if tx.to else None,
        "cumulativeGasUsed": quantity(receipt.gas_used),
        "gasUsed": quantity(receipt.gas_used - previous_cumulative_gas),
        "effectiveGasPrice": quantity(effective_gas_price(tx, header.base_fee_per_gas)),
        "contractAddress": contract,
        "logs": logs_json(receipt, tx, header, index, first_log_index),
        "logsBloom": data(receipt.bloom.to_bytes(256, "big")),
        "type": quantity(tx.type_id or 0),
        "status": quantity(1 if receipt.state_root == b"\x01" else 0),
    }


def logs_json(
    receipt: ReceiptAPI,
    tx: SignedTransactionAPI,
    header: BlockHeaderAPI,
    tx_index: int,
    first_log_index: int,
) -> list[JSON]:
    return [
        {
            "address": address(entry.address),
            "topics": [data(topic.to_bytes(32, "big")) for topic in entry.topics],
            "data": data(entry.data),
            "blockNumber": quantity(header.block_number),
            "blockHash": data(header.hash),
            "blockTimestamp": quantity(header.timestamp),
            "transactionHash": data(tx.hash),
            "transactionIndex": quantity(tx_index),
            "logIndex": quantity(first_log_index + offset),
            "removed": False,
        }
        for offset, entry in enumerate(receipt.logs)
    ]


def hash_hex(value: bytes) -> str:
    return encode_hex(value)


def block_receipts_json(block: BlockAPI, receipts: Sequence[ReceiptAPI]) -> list[JSON]:
    """The receipts of a whole block (eth_getBlockReceipts), as eth_getTransactionReceipt
    gives each."""
    result, previous, first_log = [], 0, 0
    for index, (tx, receipt) in enumerate(zip(block.transactions, receipts, strict=True)):
        result.append(receipt_json(tx, receipt, block.header, index, previous, first_log))
        previous = receipt.gas_used
        first_log += len(receipt.logs)
    return result
